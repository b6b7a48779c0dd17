"""The upstream name of create_tf_record.py: same flags, same behaviour."""
import sys

from create_tf_record import main, run_cli

if __name__ == '__main__':
    sys.exit(run_cli(main))
