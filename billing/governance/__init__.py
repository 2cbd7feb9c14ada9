"""Finance governance of price changes: approval requests with their backtest and signed approvals
(approvals, policy, versions), the backtest itself, canary rollouts (rollouts, rollout_watch), and policy as
code (policy_files). It sits above billing.profiles (the versions, their resolution and signatures) and
billing.close (whose road the backtest and the canary watch price with): nothing below imports it."""
