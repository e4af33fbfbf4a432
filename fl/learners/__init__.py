"""Learners beyond SGD deltas, as pure maths over what hospitals send: closed-form linear/ridge
regression from summed sufficient statistics (`ridge`) and federated k-means (`kmeans`).

The multiclass learners (multinomial logistic regression and an MLP with a softmax head) are
`fl.models.ModelSpec`s with `task="multiclass"`, trained by `fl.train` and combined by FedAvg like
the binary and regression SGD learners.
"""

from fl.learners import kmeans, ridge

__all__ = ["kmeans", "ridge"]
