"""What an asset's Content Credentials say.

- `verifier.trust`: the trust policy (named trust lists, engine settings, attribution).
- `verifier.reader`: `Verifier`, reading one asset into a `Verdict` in this process.
- `verifier.isolation`: `IsolatedVerifier`, the same in worker processes bounded in
  memory and time: what anything facing the public uses.
- `verifier.verdict`, `verifier.label_types`, `verifier.label`: the results.

Importing this package does not load the C2PA engine; `reader` and `isolation` do.
"""
