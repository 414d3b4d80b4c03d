"""``python -m datashare``: the same command line as ``datashare``."""

from datashare.cli import main

if __name__ == "__main__":
    main()
