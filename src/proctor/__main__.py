"""`python -m proctor` runs the CLI."""

from proctor.cli.main import app

app(prog_name="proctor")
