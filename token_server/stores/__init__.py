"""The server's shared stores: the breaker every store on the login path goes through
(:mod:`.breaker`) and the upstream budget's Redis store (:mod:`.budget_redis`)."""
