// The distributions of the sampling operators (random_dists.h). The negative binomials are
// drawn as MXNet defines them, as Poisson draws of a gamma-distributed rate: the number of
// failures before the k-th success is Poisson(Gamma(k, (1 - p) / p)), and the generalized form
// of mean mu and variance mu + alpha * mu^2 is Poisson(Gamma(1 / alpha, alpha * mu)).
#include "ops/cpu/random_dists.h"

#include <cmath>
#include <map>
#include <stdexcept>

namespace flowmod::ops {

namespace {

int64_t DrawPoisson(std::mt19937_64& gen, double lam) {
  if (!(lam > 0)) return 0;
  return std::poisson_distribution<int64_t>(lam)(gen);
}

void FillUniform(std::mt19937_64& gen, const double* p, double* out, int64_t n) {
  std::uniform_real_distribution<double> d(p[0], p[1]);
  for (int64_t i = 0; i < n; ++i) out[i] = d(gen);
}

void FillNormal(std::mt19937_64& gen, const double* p, double* out, int64_t n) {
  if (p[1] == 0) {
    for (int64_t i = 0; i < n; ++i) out[i] = p[0];
    return;
  }
  std::normal_distribution<double> d(p[0], p[1]);
  for (int64_t i = 0; i < n; ++i) out[i] = d(gen);
}

void FillExponential(std::mt19937_64& gen, const double* p, double* out, int64_t n) {
  std::exponential_distribution<double> d(p[0]);
  for (int64_t i = 0; i < n; ++i) out[i] = d(gen);
}

void FillGamma(std::mt19937_64& gen, const double* p, double* out, int64_t n) {
  std::gamma_distribution<double> d(p[0], p[1]);
  for (int64_t i = 0; i < n; ++i) out[i] = d(gen);
}

void FillPoisson(std::mt19937_64& gen, const double* p, double* out, int64_t n) {
  if (!(p[0] > 0)) {
    for (int64_t i = 0; i < n; ++i) out[i] = 0;
    return;
  }
  std::poisson_distribution<int64_t> d(p[0]);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<double>(d(gen));
}

// Poisson draws whose rates are Gamma(shape, scale) draws.
void FillGammaPoisson(std::mt19937_64& gen, double shape, double scale, double* out, int64_t n) {
  if (!(shape > 0) || !(scale > 0)) {
    for (int64_t i = 0; i < n; ++i) out[i] = 0;
    return;
  }
  std::gamma_distribution<double> rate(shape, scale);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<double>(DrawPoisson(gen, rate(gen)));
}

void FillNegativeBinomial(std::mt19937_64& gen, const double* p, double* out, int64_t n) {
  FillGammaPoisson(gen, p[0], (1 - p[1]) / p[1], out, n);
}

void FillGeneralizedNegativeBinomial(std::mt19937_64& gen, const double* p, double* out, int64_t n) {
  const double mu = p[0], alpha = p[1];
  if (alpha == 0) {
    const double pp[1] = {mu};
    FillPoisson(gen, pp, out, n);
    return;
  }
  FillGammaPoisson(gen, 1 / alpha, alpha * mu, out, n);
}

std::map<std::string, Distribution> MakeTable() {
  std::map<std::string, Distribution> t;
  t["uniform"] = {"uniform", "the uniform distribution on [low, high)",
                  {{"low", "low", "float", "0", 0, Bound::kAny, "The lower bound of the interval."},
                   {"high", "high", "float", "1", 1, Bound::kAny, "The upper bound of the interval (excluded)."}},
                  &FillUniform, true};
  t["normal"] = {"normal", "the normal distribution of mean loc and standard deviation scale",
                 {{"loc", "mu", "float", "0", 0, Bound::kAny, "The mean."},
                  {"scale", "sigma", "float", "1", 1, Bound::kNonNegative, "The standard deviation."}},
                 &FillNormal};
  t["exponential"] = {"exponential", "the exponential distribution of rate lam (mean 1 / lam)",
                      {{"lam", "lam", "float", "1", 1, Bound::kPositive, "The rate (the inverse of the mean)."}},
                      &FillExponential};
  t["gamma"] = {"gamma", "the gamma distribution of shape alpha and scale beta (mean alpha * beta)",
                {{"alpha", "alpha", "float", "1", 1, Bound::kPositive, "The shape."},
                 {"beta", "beta", "float", "1", 1, Bound::kPositive, "The scale."}},
                &FillGamma};
  t["poisson"] = {"poisson", "the Poisson distribution of mean lam, as floating point numbers",
                  {{"lam", "lam", "float", "1", 1, Bound::kNonNegative, "The mean (rate)."}},
                  &FillPoisson};
  t["negative_binomial"] = {
      "negative_binomial",
      "the negative binomial distribution: the number of failures before the k-th success of "
      "trials that succeed with probability p, as floating point numbers",
      {{"k", "k", "int", "'1'", 1, Bound::kNonNegative, "The number of successes."},
       {"p", "p", "float", "1", 1, Bound::kProbability, "The probability of success of each trial."}},
      &FillNegativeBinomial};
  t["generalized_negative_binomial"] = {
      "generalized_negative_binomial",
      "the generalized negative binomial distribution of mean mu and variance mu + alpha * mu^2 "
      "(Poisson when alpha is 0), as floating point numbers",
      {{"mu", "mu", "float", "1", 1, Bound::kNonNegative, "The mean."},
       {"alpha", "alpha", "float", "1", 1, Bound::kNonNegative, "The dispersion."}},
      &FillGeneralizedNegativeBinomial};
  return t;
}

}  // namespace

const Distribution& FindDistribution(const std::string& key) {
  static const std::map<std::string, Distribution> table = MakeTable();
  auto it = table.find(key);
  if (it == table.end()) throw std::logic_error("no distribution named " + key);
  return it->second;
}

ParamProblem CheckParams(const Distribution& dist, const double* p) {
  for (size_t i = 0; i < dist.params.size(); ++i) {
    const double v = p[i];
    const int idx = static_cast<int>(i);
    switch (dist.params[i].bound) {
      case Bound::kAny:
        if (std::isnan(v)) return {idx, "a number"};
        break;
      case Bound::kPositive:
        if (!(v > 0)) return {idx, "a number > 0"};
        break;
      case Bound::kNonNegative:
        if (!(v >= 0)) return {idx, "a number >= 0"};
        break;
      case Bound::kProbability:
        if (!(v > 0 && v <= 1)) return {idx, "a probability in (0, 1]"};
        break;
    }
  }
  if (dist.half_open && !(p[0] <= p[1])) return {1, "a number >= low (" + std::to_string(p[0]) + ")"};
  return {};
}

}  // namespace flowmod::ops
