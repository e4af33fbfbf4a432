"""`consentfl dataset ...`: assess, anonymize and synthesize a dataset; register its card in the
on-chain inventory, offer it to a study, declare a study's admission thresholds, list."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.commands._chain_common import (
    DeploymentOption,
    JsonOption,
    KeyOption,
    RpcOption,
    StudyOption,
    cli_errors,
    emit,
    fail,
    parse_study,
)

if TYPE_CHECKING:
    from chain.dataset_inventory import DatasetInventory
    from chain.deploy import Ledger


if TYPE_CHECKING:
    import pandas as pd

__all__ = ["dataset_app"]

dataset_app = typer.Typer(
    name="dataset",
    help="Assess, anonymize and synthesize datasets; the on-chain dataset inventory.",
    no_args_is_help=True,
)

DataOption = Annotated[Path, typer.Option("--data", help="The dataset, CSV with a header row.")]
QiOption = Annotated[
    str, typer.Option("--quasi-identifiers", help="Comma-separated quasi-identifier columns.")
]
SensitiveOption = Annotated[
    str, typer.Option("--sensitive", help="Comma-separated sensitive columns.")
]
IpfsOption = Annotated[
    str | None, typer.Option("--ipfs", help="Artifact store: IPFS API URL or a local directory.")
]


def _columns(value: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in value.split(",") if c.strip())


def _read(path: Path) -> pd.DataFrame:
    # pandas and the dataset modules load only when a dataset command runs: they are the
    # `datasets` extra, and every other command (trainer, aggregator, api) starts without them
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"cannot read {path} as CSV: {exc}") from exc


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)


def _inventory(ledger: Ledger) -> DatasetInventory:
    if ledger.datasets is None:
        fail("this deployment has no DatasetInventory (deployed before it existed)")
    return ledger.datasets


@dataset_app.command("assess")
def assess_command(
    data: DataOption,
    quasi_identifiers: QiOption,
    sensitive: SensitiveOption,
    synthetic: Annotated[
        Path | None, typer.Option(help="Assess this synthetic copy of --data instead.")
    ] = None,
    holdout_fraction: Annotated[float, typer.Option(help="Real rows held out as control.")] = 0.3,
    attacks: Annotated[int, typer.Option(min=10, help="Attacks per anonymeter evaluator.")] = 200,
    card_out: Annotated[Path | None, typer.Option(help="Write the dataset card here.")] = None,
    ipfs: IpfsOption = None,
    as_json: JsonOption = False,
) -> None:
    """k-anonymity, l-diversity, t-closeness and attack risks (anonymeter: singling out,
    linkability, inference, 95% intervals against a holdout); builds the dataset card and puts
    it in the store with --ipfs."""
    from chain.store import open_store
    from consent.dataset_assess import assess

    with cli_errors():
        result = assess(
            _read(data),
            quasi_identifiers=_columns(quasi_identifiers),
            sensitive=_columns(sensitive),
            synthetic=None if synthetic is None else _read(synthetic),
            holdout_fraction=holdout_fraction,
            attacks=attacks,
        )
        raw = result.card.to_bytes()
        cid = open_store(ipfs).put(raw) if ipfs is not None else None
        if card_out is not None:
            card_out.write_bytes(raw)
    payload = {
        "card": result.card.to_json(),
        "card_sha256": "0x" + result.card.sha256.hex(),
        "card_cid": cid,
    }
    card = result.card
    lines = [f"k={card.k} l={card.l} t={card.t_closeness:.4f} rows={card.rows}"]
    lines += [
        f"{name}: {r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]" for name, r in card.risks.items()
    ]
    lines.append(f"card sha256 {payload['card_sha256']}" + (f" cid {cid}" if cid else ""))
    emit(as_json, payload, "\n".join(lines))


@dataset_app.command("anonymize")
def anonymize_command(
    data: DataOption,
    quasi_identifiers: QiOption,
    sensitive: SensitiveOption,
    k: Annotated[int, typer.Option(min=1, help="Target k.")],
    out: Annotated[Path, typer.Option(help="Where to write the generalized CSV.")],
    max_suppression: Annotated[float, typer.Option(help="Most rows suppressed (fraction).")] = 0.05,
    as_json: JsonOption = False,
) -> None:
    """Generalize (equal-width bins) and suppress rows until every class has k rows, then
    re-assess k, l and t of the result."""
    with cli_errors():
        qi, sa = _columns(quasi_identifiers), _columns(sensitive)
        frame = _read(data)
        from consent.anonymity import assess_anonymity
        from consent.generalization import generalize

        before = assess_anonymity(frame, qi, sa)
        result = generalize(frame, qi, k, max_suppression=max_suppression)
        after = assess_anonymity(result.data, qi, sa)
        _write_csv(result.data, out)
    payload: dict[str, Any] = {
        "before": {"k": before.k, "l": before.l, "t": before.t_closeness},
        "after": {"k": after.k, "l": after.l, "t": after.t_closeness},
        "suppressed_rows": result.suppressed_rows,
        "bin_widths": result.bin_widths,
        "out": str(out),
        "target_met": after.k >= k,
    }
    text = (
        f"k {before.k} -> {after.k} (target {k}), l {before.l} -> {after.l}, "
        f"t {before.t_closeness:.4f} -> {after.t_closeness:.4f}, "
        f"{result.suppressed_rows} rows suppressed; wrote {out}"
    )
    emit(as_json, payload, text)


@dataset_app.command("synthesize")
def synthesize_command(
    data: DataOption,
    out: Annotated[Path, typer.Option(help="Where to write the synthetic CSV.")],
    rows: Annotated[int | None, typer.Option(help="Rows to sample (default: as many).")] = None,
    label: Annotated[str, typer.Option(help="Label column for train-on-synthetic.")] = "label",
    holdout_fraction: Annotated[float, typer.Option(help="Real rows held out to test.")] = 0.3,
    as_json: JsonOption = False,
) -> None:
    """Synthetic rows (SDV Gaussian copula) with their fidelity (sdmetrics) and
    train-on-synthetic, test-on-real accuracy; assess the output with `dataset assess
    --synthetic` for its privacy risks and card."""
    with cli_errors():
        frame = _read(data)
        from consent.dataset_assess import ID_COLUMNS, holdout_split
        from fl.synthesis import synthesize

        train, test = holdout_split(frame, holdout_fraction)
        drop = [c for c in ID_COLUMNS if c in frame.columns]
        result = synthesize(train, test, rows=rows or len(frame), label=label, drop=drop)
        _write_csv(result.synthetic, out)
    payload = {
        "rows": len(result.synthetic),
        "fidelity": result.fidelity,
        "accuracy_train_real": result.accuracy_real,
        "accuracy_train_synthetic": result.accuracy_synthetic,
        "utility_gap": result.utility_gap,
        "out": str(out),
    }
    text = (
        f"{len(result.synthetic)} synthetic rows -> {out}; fidelity {result.fidelity:.3f}; "
        f"accuracy on real holdout: trained on real {result.accuracy_real:.3f}, on synthetic "
        f"{result.accuracy_synthetic:.3f}"
    )
    emit(as_json, payload, text)


@dataset_app.command("register")
def register_command(
    deployment: DeploymentOption,
    key: KeyOption,
    card: Annotated[Path, typer.Option(help="The dataset card written by `dataset assess`.")],
    ipfs: Annotated[str, typer.Option(help="Artifact store: IPFS API URL or a directory.")],
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """Put the card in the store and register its hash, CID and scores as the key's
    hospital (synthetic datasets are marked as such on chain)."""
    from api.wiring import open_ledger
    from chain.store import open_store
    from consent.dataset_card import DatasetCard
    from consent.ids import Bytes32

    with cli_errors():
        raw = card.read_bytes()
        parsed = DatasetCard.from_bytes(raw)
        cid = open_store(ipfs).put(raw)
        inventory = _inventory(open_ledger(rpc, deployment, key))
        result = inventory.register_dataset(Bytes32(parsed.sha256), cid, parsed.on_chain())
    payload = {"card_sha256": "0x" + parsed.sha256.hex(), "card_cid": cid, "block": result.block}
    emit(as_json, payload, f"dataset {payload['card_sha256']} registered in block {result.block}")


@dataset_app.command("offer")
def offer_command(
    deployment: DeploymentOption,
    key: KeyOption,
    study: StudyOption,
    card_hash: Annotated[str, typer.Option(help="The registered card's SHA-256 (0x...).")],
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """Offer one of the key's registered datasets to a study (refused below its thresholds)."""
    from api.wiring import open_ledger
    from consent.ids import Bytes32, parse_bytes32

    with cli_errors():
        inventory = _inventory(open_ledger(rpc, deployment, key))
        result = inventory.offer_dataset(parse_study(study), Bytes32(parse_bytes32(card_hash)))
    emit(as_json, {"block": result.block, "tx": result.tx_hash}, f"offered in block {result.block}")


@dataset_app.command("thresholds")
def thresholds_command(
    deployment: DeploymentOption,
    key: KeyOption,
    study: StudyOption,
    min_k: Annotated[int, typer.Option(min=1, help="Smallest k admitted.")],
    min_l: Annotated[int, typer.Option(min=1, help="Smallest l admitted.")] = 1,
    max_t: Annotated[float, typer.Option(min=0, max=1, help="Largest t admitted.")] = 1.0,
    max_risk: Annotated[
        float, typer.Option(min=0, max=1, help="Largest upper bound of each attack risk.")
    ] = 1.0,
    allow_synthetic: Annotated[bool, typer.Option(help="Admit synthetic datasets.")] = False,
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """Declare a study's admission thresholds, once (its coordinator only); `study
    add-hospital` and the contract then refuse a hospital whose offered card fails them."""
    from api.wiring import open_ledger
    from consent.dataset_card import AdmissionThresholds, to_ppm

    limits = AdmissionThresholds(min_k, min_l, to_ppm(max_t), to_ppm(max_risk), allow_synthetic)
    with cli_errors():
        inventory = _inventory(open_ledger(rpc, deployment, key))
        result = inventory.set_thresholds(parse_study(study), limits)
    emit(as_json, {"block": result.block, "tx": result.tx_hash}, f"set in block {result.block}")


@dataset_app.command("list")
def list_command(
    deployment: DeploymentOption,
    rpc: RpcOption = None,
    as_json: JsonOption = False,
) -> None:
    """The inventory: every dataset, its scores, and the studies it is offered to."""
    from api.dataset_listing import inventory_listing
    from api.wiring import open_ledger

    with cli_errors():
        listing = inventory_listing(_inventory(open_ledger(rpc, deployment, None)))
    lines = [
        f"{d['card_sha256']} {d['hospital']} rows={d['rows']} k={d['k']} l={d['l']} "
        f"t={d['t_closeness']:.3f} synthetic={d['synthetic']} studies={len(d['studies'])}"
        for d in listing
    ]
    emit(as_json, {"datasets": listing}, "\n".join(lines) or "no datasets registered")
