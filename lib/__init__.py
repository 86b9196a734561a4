"""The floor below `tenants`: small helpers every app may use, importing none of ours."""
