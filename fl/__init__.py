"""Federated learning with PyTorch: datasets, models, local training, aggregation, roles.

`fl` never imports `chain` or `api`: it reaches the ledger and the artifact store through the
`typing.Protocol` ports it declares, which `chain` satisfies structurally.
"""
