"""icl-ood: pretraining data mixtures and out-of-distribution in-context learning (JAX).

Flow: data (families, prompts) -> model -> train -> evaluate (tasks, sweeps, baselines) ->
results -> figures / report -> experiments -> replicate -> cli. Families, baselines and
sweeps are plug-ins found by name (icl_ood/families/, icl_ood/baselines/, icl_ood/sweeps/).

Array names carry their shape (`xs_BxNxD`), one meaning per letter:
  B  prompts in a batch                     N  (x, y) points per prompt; k = 0..N-1 positions
  D  input dimension d                      T  tokens (2N: x and y interleaved)
  E  model width d_model                    H  attention heads
  Q  width of one head (E / H)              U  hidden units of a ReLU net
  F  features of a Bayesian linear regression
  C  Gaussian components of a Bayes prior   K  function families
  P  prompts of an evaluation task          M  predictors scored together
  S  bootstrap resamples                    R  runs trained together in one program
  G  grid points (frequencies)              L  nearest neighbours
  X  any leading batch of independent problems; J  right-hand sides of a linear solve
"""
