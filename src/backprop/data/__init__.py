"""data: built-in data sets, generators and file readers."""
