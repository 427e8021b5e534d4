"""see: backpropagation made visible -- explain documents and plots."""
