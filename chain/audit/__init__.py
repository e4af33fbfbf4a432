"""The auditor's verifier: re-check a study's whole history against the chain and the artifacts.

`AuditVerifier.verify(study)` reads the study once into a read-only `AuditView` (`view`) and runs
each independent check over it (`registry`, one module each), recording one `AuditCheck` per
thing it checked:

* `round-sequence`: rounds 0..n-1 all exist, every round but the last is finalized, and each opens
  after the previous one was finalized;
* `base-model`: each round's base model is the previous round's model (hash and CID);
* `artifact`: every model, update and metrics file is in the store, its bytes match its CID, and
  their SHA-256 equals the hash on chain;
* `membership`: each update came from a hospital that was a member when it was submitted
  (replayed from `HospitalAdded` / `HospitalRemoved`);
* `freshness`: each update's consent block is not in its future and not older than the last
  revocation among the hospital's patients before it was submitted;
* `aggregation`: each finalized round's metrics artifact lists every update on chain (the
  contract made the aggregator name how many it considered) as aggregated or rejected, each
  aggregated update weighted by the patient count the contract bounded and recorded for it;
* `exclusion`: for every patient who revoked consent given to a hospital (and did not grant it to
  that hospital again), or whose consent with it had expired by the block an update landed in,
  every later update of that hospital has a published non-membership proof that verifies against
  its on-chain `dataRoot`;
* `proof-files`: every published proof file, on its own: its data root is one of the hospital's
  on-chain roots, it verifies, and no other file gives a different proof for the same key;
* `privacy-budget` (dp mode): the caps follow from the on-chain epsilon and delta, every charge
  equals the RDP accountant's increment for the on-chain terms, and each hospital's ledger is the
  sum of its charges, with the epsilon spent per hospital and per round;
* `recompute` (only with an auditor's key, `chain.audit.recompute`): every sealed update opens
  with the auditor's key and every finalized model is recomputed bit-exactly from them.
* `dataset-card`, `dataset-threshold` (studies with admission thresholds in the DatasetInventory
  only): each member's offered card is in the store, matches its on-chain hash and registered
  scores, and meets the thresholds.

A new mode adds a module with a class that has a `name` and `run(view) -> list[AuditCheck]`, and
one line in `registry`; no other check changes. Verification failures are data
(`AuditCheck.passed` False, with the round, hospital and what failed); infrastructure failures
are raised: `ChainUnavailableError` when the chain node is down, `StoreUnavailableError` when the
IPFS node is (both `NodeUnavailableError`), `UnknownStudyError` for an unknown study.
"""

from chain.audit.check import Check
from chain.audit.registry import CHECKS, DEFAULT_CHECKS
from chain.audit.report import AuditCheck, AuditReport
from chain.audit.verifier import AuditVerifier, MisnamedCheckError, run_checks
from chain.audit.view import AuditView, LedgerView

__all__ = [
    "CHECKS",
    "DEFAULT_CHECKS",
    "AuditCheck",
    "AuditReport",
    "AuditVerifier",
    "AuditView",
    "Check",
    "LedgerView",
    "MisnamedCheckError",
    "run_checks",
]
