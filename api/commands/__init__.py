"""`consentfl` sub-commands, one typer app per command group."""
