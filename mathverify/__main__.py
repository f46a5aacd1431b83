"""`python -m mathverify` runs the command line."""

from mathverify.cli import main

if __name__ == "__main__":
    main()
