#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

The commands that only read and write log files (check_history, repair_history) run without
django.setup(): they need the settings but no app registry, models or database, and loading the
apps costs more than the check of a small log (bench/check.py measures both). They stay
ordinary management commands (`manage.py help` lists them; call_command runs them)."""

import os
import sys

FILE_COMMANDS = ("check_history", "repair_history")


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inspector.settings")
    if len(sys.argv) > 1 and sys.argv[1] in FILE_COMMANDS:
        from importlib import import_module

        import_module(f"conversations.management.commands.{sys.argv[1]}").Command().run_from_argv(sys.argv)
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
