"""Command-line plumbing: the flags several scripts share, defined once (flags), and a script run as the shell
command it equals (commands). Library code below this layer takes explicit arguments, never a parsed namespace."""
