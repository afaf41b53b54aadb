"""What an asset's Content Credentials say.

- `verifier.trust`: the trust policy (named trust lists, engine settings, attribution).
- `verifier.reader`: `Verifier`, reading one asset into a `Verdict` in this process.
- `verifier.isolation`: `IsolatedVerifier`, the same in worker processes bounded in
  memory and time: what anything facing the public uses.
- `verifier.verdict`, `verifier.label_types`, `verifier.label`: the results.
- `verifier.process_pool`: the isolated worker-process pool under `IsolatedVerifier` and
  `signer.isolation.IsolatedSigner` (domain-free, so signer/ may import it).

Importing this package does not load the C2PA engine; `reader` and `isolation` do.
"""
