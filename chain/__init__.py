"""web3 client: compile, deploy, one typed facade per contract, errors, events, artifact stores."""
