"""``python -m monitor``, and the ``monitor`` command, whose script calls ``run``.

Kept light: a parse worker process imports the script that started its parent (the
``monitor`` script imports this module), and the command line is 650 modules the workers
never use. Imported here, it made each worker start three times slower and larger.
"""


def run() -> None:
    from monitor.cli.main import main  # here, not above: see the docstring

    main()


if __name__ == "__main__":
    run()
