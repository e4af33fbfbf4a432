"""The `consentfl` command line: the root typer app; each command group lives in
`api/commands/<group>.py` and is added here with one `app.add_typer(...)` line."""

from __future__ import annotations

import warnings

import typer

from api.commands.aggregator import aggregator_app
from api.commands.api import api_command
from api.commands.audit import audit_app
from api.commands.chain import chain_app
from api.commands.consent import consent_app
from api.commands.data import data_app
from api.commands.dataset import dataset_app
from api.commands.demo import demo
from api.commands.dev import dev_app
from api.commands.patients import patients_app
from api.commands.study import study_app
from api.commands.trainer import trainer_command

__all__ = ["app"]

# ipfshttpclient 0.7 passes urllib3 a parameter it deprecated; harmless, and noise on every call
warnings.filterwarnings("ignore", message="The 'strict' parameter", category=FutureWarning)

app = typer.Typer(
    name="consentfl",
    help="Consent-aware, blockchain-audited federated learning for hospitals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # reflow docstring paragraphs in --help
)

app.add_typer(chain_app)
app.add_typer(study_app)
app.add_typer(consent_app)
app.add_typer(dev_app)
app.add_typer(data_app)
app.add_typer(dataset_app)
app.add_typer(patients_app)
app.command("trainer")(trainer_command)
app.add_typer(aggregator_app)
app.command("api")(api_command)
app.add_typer(audit_app)
app.command("demo")(demo)
