"""Live CNN viewer: look inside a convolutional network while it runs."""
