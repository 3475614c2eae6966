"""XGBoost models of pools and trades: what each model is (`specs`), the tables they learn from
(`datasets`), training and the facts a manifest records (`train`), and champion/challenger (`promotion`)."""
