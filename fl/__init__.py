"""Federated learning with PyTorch: datasets, models, local training, aggregation strategies,
learners and update codecs, and the trainer and aggregator roles.

`fl` never imports `chain` or `api`: it reaches the ledger, the consent view and the artifact
store through the `typing.Protocol` ports it declares (`fl.ports`), which `chain` satisfies
structurally.
"""
