"""Command-line plumbing: the flags several scripts share, defined once (flags), a script run as the shell command
it equals (commands) and TensorFlow's environment defaults the scripts set (environment). Library code below this
layer takes explicit arguments, never a parsed namespace."""
