"""Off-policy evaluation: logged bandit data, target policies, reward models, estimators and the network's value."""
