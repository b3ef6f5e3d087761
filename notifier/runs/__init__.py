"""A Keptn run's state and its run message: pure, order-independent."""
