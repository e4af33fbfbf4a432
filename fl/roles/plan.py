"""The study's training plan, built from the study-plan artifact (`consent.formats.study_plan`)
whose CID is the study's on-chain `metadataCid`.

Every trainer rebuilds the same model from it, reads its file through the plan's schema when it
has one (`fl.schema`, encoded with the federated statistics, `fl.preprocess`: the plan's, or
when it has none and the schema needs them round 0's, `statistics_round`), trains with the
same local configuration, encodes its update with the plan's codec (`fl.codecs`) and computes
what the plan's learner ships (`fl.learners`); the aggregator combines with the same learner and
strategy. The format is `consent.formats.study_plan`; a plan without a schema is a study of
`fl.data`'s numeric `label` files, as before.

The strategy (FedAvg or a robust one, `fl.strategies`) and the optional contribution-value method
(`fl.valuation`, in the plan's `extensions["valuation"]`: `{"name": "gtg", "options": {...},
"metric": "loss"}`) are part of it, so the auditor recomputes the round's decisions and values with
the same settings. Both need each hospital's own update, so a plan whose codec is anything but
`sealed` is refused with them, and so are the privacy modes with secure aggregation, "secagg" and
"dp+secagg" (the aggregator learns only the sum of FedAvg-weighted sgd-delta updates,
`fl.roles.secagg_aggregation`). The privacy mode is one field, `privacy`
(`consent.formats.privacy`), its DP terms beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import Tensor

from consent.errors import ConsentError
from consent.formats import FormatError
from consent.formats.privacy import PRIVACY_KEY, PrivacySpec
from consent.formats.revocation import REVOCATION_KEY, RevocationPolicy, RevocationPolicyError
from consent.formats.study_plan import DEFAULT_CODEC, DEFAULT_LEARNER, PLAN_FORMAT, PlanDocument
from consent.privacy import DpTerms
from fl.codecs import UpdateCodec, make_codec
from fl.errors import FlError
from fl.learner import Learner
from fl.learners import make_learner
from fl.learners.sharded import ShardedLearner
from fl.learners.statistics import PreprocessingStatistics
from fl.models import ModelSpec
from fl.preprocess import StudyStats
from fl.robust import RobustStrategy
from fl.roles.errors import MetadataError
from fl.schema import StudySchema
from fl.strategies import make_strategy
from fl.strategy import Strategy
from fl.train import LocalTrainingConfig
from fl.valuation import Valuation, make_valuation
from fl.valuation.utility import METRICS, UtilityMetric

__all__ = ["AUDITOR_KEYS_EXTENSION", "PLAN_FORMAT", "StudyPlan"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyPlan:
    """What every party of a study must agree on before round 0."""

    model: ModelSpec
    training: LocalTrainingConfig = field(default_factory=LocalTrainingConfig)
    strategy: str = "fedavg"
    strategy_options: Mapping[str, object] = field(default_factory=dict)
    init_seed: int = 0
    round_timeout_s: float = 60.0
    """How long the aggregator waits for missing hospitals once the minimum is met."""
    codec: str = DEFAULT_CODEC
    learner: str = DEFAULT_LEARNER
    schema: StudySchema | None = None
    """What every hospital's file must look like (validated before round 0 and every reload)."""
    stats: StudyStats | None = None
    """The federated preprocessing statistics every hospital encodes its rows with."""
    auditor_seal_keys: tuple[bytes, ...] = ()
    """Raw 32-byte X25519 public keys of the study's auditors: the codec seals every update to
    them too, so the audit can open each update and recompute each aggregate. Published in the
    plan's `extensions` (key `auditor_seal_keys`, hex), bound to the chain by the plan's CID."""
    privacy: PrivacySpec = field(default_factory=PrivacySpec)
    """The privacy mode and its parameters (`consent.formats.privacy`), DP terms included;
    written to the plan's `extensions["privacy"]`."""
    valuation: str | None = None
    """Contribution values per round (`fl.valuation` name), or None for none."""
    valuation_options: Mapping[str, object] = field(default_factory=dict)
    valuation_metric: UtilityMetric = "loss"
    revocation: RevocationPolicy = field(default_factory=RevocationPolicy)
    """What a revocation does to trained models (`consent.formats.revocation`): "forward", or
    "unlearn" by rollback rounds within a window (`fl.roles.unlearning`), optionally over SISA
    shards (`fl.learners.sharded`: the plan's learner is wrapped, the model is their ensemble)."""

    def __post_init__(self) -> None:
        if self.revocation.shards != 1:
            self._check_shards()
        if self.privacy.mode.secagg:
            self._check_secagg()
        if not (math.isfinite(self.round_timeout_s) and self.round_timeout_s >= 0):
            raise MetadataError(f"round_timeout_s must be >= 0, got {self.round_timeout_s!r}")
        self.make_strategy()  # validates name and options
        self.make_valuation()
        if self.valuation is not None and self.valuation_metric not in METRICS:
            raise MetadataError(f"valuation metric must be one of {METRICS}")
        if self.judges_updates and self.codec != DEFAULT_CODEC:
            raise MetadataError(
                f"codec {self.codec!r} hides individual updates: robust strategies and "
                f"contribution values need the {DEFAULT_CODEC!r} mode"
            )
        if self.judges_updates and self.learner != DEFAULT_LEARNER:
            raise MetadataError(
                f"robust strategies and contribution values judge model deltas: learner "
                f"{self.learner!r} is not {DEFAULT_LEARNER!r}"
            )
        self.make_codec()
        try:
            self.make_learner().check_plan(self.model, self.strategy)
        except FlError as exc:
            raise MetadataError(f"bad learner in plan: {exc}") from exc
        if self.schema is not None:
            self._check_schema(self.schema)
        elif self.stats is not None:
            raise MetadataError("preprocessing statistics need a schema")
        if self.statistics_round and (self.judges_updates or self.dp is not None):
            # FLTrust's root update and contribution values train and value on the aggregator's
            # rows outside the learner; dp would need the sums noised and charged: both need the
            # statistics fixed before round 0
            raise MetadataError(
                "robust strategies, contribution values and dp need the preprocessing "
                "statistics in the plan (`aggregator init --stats`), not a statistics round"
            )

    @property
    def dp(self) -> DpTerms | None:
        """The DP terms of modes "dp" and "dp+secagg" (`consent.privacy`), None otherwise. A
        reader that ignores them cannot submit anyway: the `PrivacyBudget` contract refuses an
        uncharged update in a dp study."""
        return self.privacy.dp

    @property
    def statistics_round(self) -> bool:
        """Whether round 0 computes the study's preprocessing statistics (`fl.learners
        .statistics`): the schema standardizes or imputes and the plan carries no statistics."""
        if self.schema is None or self.stats is not None:
            return False
        prep = self.schema.preprocessing
        return prep.standardize or any(c.missing == "impute" for c in self.schema.columns)

    def _check_secagg(self) -> None:
        """Secure aggregation sums sgd-delta updates (FedAvg weighted by patient count); what
        needs each hospital's own update, or another combine, cannot run on the sum alone."""
        mode = self.privacy.mode.value
        if self.learner != DEFAULT_LEARNER:
            raise MetadataError(f"privacy mode {mode} sums {DEFAULT_LEARNER!r} deltas only")
        if self.strategy != "fedavg" or self.valuation is not None:
            raise MetadataError(
                f"privacy mode {mode} hides each update: it takes the fedavg strategy only, "
                "without contribution values"
            )

    def _check_shards(self) -> None:
        """SISA shards (`fl.learners.sharded`) split sgd-delta training of a binary classifier
        into sub-models FedAvg combines one by one; what judges, sums or noises whole updates
        does not split, so it is refused by name."""
        shards = self.revocation.shards
        if self.learner != DEFAULT_LEARNER or self.codec != DEFAULT_CODEC:
            raise MetadataError(
                f"revocation shards = {shards} train {DEFAULT_LEARNER!r} sub-models with the "
                f"{DEFAULT_CODEC!r} codec only"
            )
        if self.privacy.mode.secagg or self.dp is not None:
            raise MetadataError(f"revocation shards = {shards} run in privacy mode sealed only")
        if self.strategy != "fedavg" or self.valuation is not None:
            raise MetadataError(
                f"revocation shards = {shards} combine each shard with fedavg, without "
                "contribution values"
            )
        if self.statistics_round:
            raise MetadataError(
                f"revocation shards = {shards} need the preprocessing statistics in the plan"
            )

    def _check_schema(self, schema: StudySchema) -> None:
        kind = schema.task.kind
        expected = {
            "binary": "classification",
            "multiclass": "multiclass",
            "regression": "regression",
            "clustering": "clustering",
        }.get(kind)
        if expected is None:
            raise MetadataError(f"no model fits a {kind} study")
        if self.model.task != expected:
            raise MetadataError(f"the schema's task is {kind}, the model's {self.model.task}")
        if kind == "clustering" and self.model.n_outputs != schema.task.k:
            raise MetadataError(
                f"the schema has k = {schema.task.k}, the model {self.model.n_outputs}"
            )
        if kind == "multiclass" and self.model.n_outputs != schema.task.n_classes:
            raise MetadataError(
                f"the schema has {schema.task.n_classes} classes, the model "
                f"{self.model.n_outputs} outputs"
            )
        if self.model.n_features != len(schema.feature_names()):
            raise MetadataError(
                f"the schema encodes {len(schema.feature_names())} features, "
                f"the model takes {self.model.n_features}"
            )
        try:
            if self.stats is not None:
                self.stats.check_fits(schema)
        except FlError as exc:
            raise MetadataError(f"preprocessing statistics do not fit the schema: {exc}") from exc

    def make_valuation(self) -> Valuation | None:
        """The configured contribution-value method, or None."""
        if self.valuation is None:
            return None
        try:
            return make_valuation(self.valuation, **dict(self.valuation_options))
        except FlError as exc:
            raise MetadataError(f"bad valuation in plan: {exc}") from exc

    @property
    def judges_updates(self) -> bool:
        """Whether rounds need each hospital's own update (a robust strategy or valuation)."""
        return self.valuation is not None or isinstance(self.make_strategy(), RobustStrategy)

    def _valuation_extension(self) -> dict[str, object]:
        if self.valuation is None:
            return {}
        return {
            "valuation": {
                "name": self.valuation,
                "options": dict(self.valuation_options),
                "metric": self.valuation_metric,
            }
        }

    def make_strategy(self) -> Strategy:
        """The configured aggregation strategy."""
        try:
            return make_strategy(self.strategy, **dict(self.strategy_options))
        except FlError as exc:
            raise MetadataError(f"bad strategy in plan: {exc}") from exc

    def make_codec(self) -> UpdateCodec:
        """The configured update codec."""
        options = {"auditor_keys": self.auditor_seal_keys} if self.auditor_seal_keys else {}
        try:
            return make_codec(self.codec, **options)
        except (FlError, ConsentError) as exc:
            raise MetadataError(f"bad codec in plan: {exc}") from exc

    def make_learner(self, *, noise_seed: int | None = None) -> Learner:
        """The configured learner; after a statistics round (`statistics_round`) in
        `fl.learners.statistics`; with SISA shards in `fl.learners.sharded`; in the dp modes
        wrapped in the DP learner (`fl.privacy`), its noise drawn from `noise_seed`
        (`fl.determinism.noise_seed`) when given."""
        try:
            learner = make_learner(self.learner)
        except FlError as exc:
            raise MetadataError(f"bad learner in plan: {exc}") from exc
        if self.statistics_round:
            assert self.schema is not None  # statistics_round says so
            return PreprocessingStatistics(learner, self.schema)
        if self.revocation.shards > 1:
            return ShardedLearner(learner, self.revocation.shards)
        if self.dp is None:
            return learner
        from fl.privacy import make_dp_learner  # opacus is the optional extra `dp`

        try:
            return make_dp_learner(learner, self.dp, noise_seed=noise_seed)
        except FlError as exc:
            raise MetadataError(f"bad dp terms in plan: {exc}") from exc

    def initial_state(self) -> dict[str, Tensor]:
        """Round 0's base model (the learner's: a torch model's weights, or its own state)."""
        return self.make_learner().initial_state(self.model, seed=self.init_seed)

    def to_json_bytes(self) -> bytes:
        """Canonical JSON (equal plans give equal bytes, hence equal CIDs)."""
        return PlanDocument(
            model=self.model.to_json_dict(),
            training=self.training.to_json_dict(),
            strategy=self.strategy,
            strategy_options=dict(self.strategy_options),
            codec=self.codec,
            learner=self.learner,
            init_seed=self.init_seed,
            round_timeout_s=self.round_timeout_s,
            schema=None if self.schema is None else self.schema.to_json_dict(),
            preprocessing_stats=None if self.stats is None else self.stats.to_json_dict(),
            extensions={
                **_auditor_extension(self.auditor_seal_keys),
                **privacy_extensions(self.privacy),
                **self._valuation_extension(),
                **_revocation_extension(self.revocation),
            },
        ).to_json_bytes()

    @classmethod
    def from_json_bytes(cls, data: bytes) -> StudyPlan:
        """Parse a plan (any known version); raises `MetadataError` on anything malformed."""
        try:
            document = PlanDocument.from_json_bytes(data)
        except FormatError as exc:
            raise MetadataError(f"the study metadata is not a consentfl study plan: {exc}") from exc
        try:
            valuation = dict(document.extensions.get("valuation") or {})
            return cls(
                model=ModelSpec.from_json_dict(document.model),
                training=LocalTrainingConfig.from_json_dict(document.training),
                strategy=document.strategy,
                strategy_options=dict(document.strategy_options),
                init_seed=document.init_seed,
                round_timeout_s=document.round_timeout_s,
                codec=document.codec,
                learner=document.learner,
                schema=(
                    None if document.schema is None else StudySchema.from_json_dict(document.schema)
                ),
                stats=(
                    None
                    if document.preprocessing_stats is None
                    else StudyStats.from_json_dict(document.preprocessing_stats)
                ),
                auditor_seal_keys=_auditor_keys_of(document.extensions),
                privacy=PrivacySpec.from_extensions(document.extensions),
                valuation=None if not valuation else str(valuation["name"]),
                valuation_options=dict(valuation.get("options", {})),
                valuation_metric=valuation.get("metric", "loss"),
                revocation=RevocationPolicy.from_extensions(document.extensions),
            )
        except RevocationPolicyError:
            raise  # a named error of its own: the section, not the whole plan, is wrong
        except MetadataError:
            raise
        except (FlError, FormatError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MetadataError(f"malformed study plan: {exc}") from exc


AUDITOR_KEYS_EXTENSION = "auditor_seal_keys"
"""The plan extension listing the auditors' X25519 public keys (hex)."""


def _auditor_extension(keys: tuple[bytes, ...]) -> dict[str, object]:
    return {AUDITOR_KEYS_EXTENSION: ["0x" + bytes(k).hex() for k in keys]} if keys else {}


def _auditor_keys_of(extensions: Mapping[str, object]) -> tuple[bytes, ...]:
    found = extensions.get(AUDITOR_KEYS_EXTENSION, [])
    if not isinstance(found, list) or not all(isinstance(k, str) for k in found):
        raise MetadataError(f"{AUDITOR_KEYS_EXTENSION} must be a list of hex strings")
    try:
        return tuple(bytes.fromhex(k.removeprefix("0x")) for k in found)
    except ValueError as exc:
        raise MetadataError(f"{AUDITOR_KEYS_EXTENSION}: {exc}") from exc


def privacy_extensions(privacy: PrivacySpec) -> dict[str, object]:
    """The plan extensions that carry `privacy` (none for "sealed", so sealed plans keep their
    bytes and CIDs)."""
    section = privacy.to_extension()
    return {PRIVACY_KEY: section} if section else {}


def _revocation_extension(policy: RevocationPolicy) -> dict[str, object]:
    section = policy.to_extension()
    return {REVOCATION_KEY: section} if section else {}
