"""``python -m netspec``: the ``netspec`` command, for environments whose scripts folder is not on PATH."""

from .tools.launch import main

if __name__ == "__main__":
    main(prog_name="netspec")
