// NaN-aware comparisons shared by every test that bounds a numeric difference.
//
// `std::max(err, e)` and `if (e > worst)` silently drop a NaN (every comparison with NaN is false), so a kernel
// that returns NaN would pass a test written that way. These helpers never do: a NaN (or an infinity) in the
// values compared, or in a bound, fails the comparison, and the failure message names the worst index, the two
// values there and the bound. Use them as predicates:
//   EXPECT_TRUE(test::all_within(got, want, n, 1e-5));            // |got - want| <= 1e-5 everywhere
//   EXPECT_TRUE(test::all_close(got, want, n, 1e-6, 1e-4));       // |got - want| <= 1e-6 + 1e-4 |want|
//   test::WorstError w;  for (...) w.add(i, got, want, bound);  EXPECT_TRUE(w.result()) << context;
// or read the NaN-propagating largest difference with `worst_abs_diff` (its `.err` is NaN when any value is).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace gaincell::test {

// Largest of a and b; NaN when either is NaN (std::max drops a NaN second argument).
inline double nan_max(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  return a < b ? b : a;
}

// The element that is furthest out of bounds among those added. A non-finite value or bound, or an error
// above its bound, fails; the first non-finite one is kept as the worst (it is never "smaller" than another).
class WorstError {
 public:
  // Element `index`: |got - want| must be <= bound.
  void add(int64_t index, double got, double want, double bound) {
    ++count_;
    const bool finite = std::isfinite(got) && std::isfinite(want) && std::isfinite(bound);
    const double err = std::fabs(got - want);
    failed_ += !finite || !(err <= bound);
    if (!finite) {
      if (!nonfinite_) set(index, got, want, bound, err), nonfinite_ = true;
      return;
    }
    if (nonfinite_) return;
    // The ratio err / bound orders the elements (a zero bound: any error is infinitely far out).
    const double ratio = bound > 0 ? err / bound : (err > 0 ? std::numeric_limits<double>::infinity() : 0.0);
    if (index_ < 0 || ratio > ratio_) set(index, got, want, bound, err), ratio_ = ratio;
  }
  int64_t index() const { return index_; }  // -1 when nothing was added
  double err() const { return err_; }       // |got - want| at index() (NaN for a NaN)
  double got() const { return got_; }
  double want() const { return want_; }
  double bound() const { return bound_; }
  int64_t failed() const { return failed_; }
  bool ok() const { return failed_ == 0; }
  std::string describe() const {
    std::ostringstream s;
    s.precision(9);
    s << failed_ << " of " << count_ << " out of bounds; worst at index " << index_ << ": got " << got_ << ", want "
      << want_ << ", |err| " << err_ << ", bound " << bound_;
    return s.str();
  }
  ::testing::AssertionResult result() const {
    if (ok()) return ::testing::AssertionSuccess() << "all " << count_ << " within bounds";
    return ::testing::AssertionFailure() << describe();
  }

 private:
  void set(int64_t index, double got, double want, double bound, double err) {
    index_ = index, got_ = got, want_ = want, bound_ = bound, err_ = err;
  }
  int64_t index_ = -1, count_ = 0, failed_ = 0;
  double err_ = 0, got_ = 0, want_ = 0, bound_ = 0, ratio_ = 0;
  bool nonfinite_ = false;
};

// |got[i] - want[i]| <= atol + rtol |want[i]| for every i < n.
template <class A, class B>
::testing::AssertionResult all_close(const A* got, const B* want, int64_t n, double atol, double rtol = 0) {
  WorstError w;
  for (int64_t i = 0; i < n; ++i) w.add(i, double(got[i]), double(want[i]), atol + rtol * std::fabs(double(want[i])));
  return w.result();
}
template <class A, class B>
::testing::AssertionResult all_close(const std::vector<A>& got, const std::vector<B>& want, double atol,
                                     double rtol = 0) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "sizes differ: got " << got.size() << ", want " << want.size();
  return all_close(got.data(), want.data(), int64_t(got.size()), atol, rtol);
}

// |got[i] - want[i]| <= bound for every i < n.
template <class A, class B>
::testing::AssertionResult all_within(const A* got, const B* want, int64_t n, double bound) {
  return all_close(got, want, n, bound, 0.0);
}
template <class A, class B>
::testing::AssertionResult all_within(const std::vector<A>& got, const std::vector<B>& want, double bound) {
  return all_close(got, want, bound, 0.0);
}

// The largest |got[i] - want[i]| and where it is; err is NaN (at the first NaN) when any value is NaN, and
// infinite when an infinity differs (equal infinities count as equal). Comparing it with <, <=, > or >= is then
// NaN-aware.
struct Worst {
  double err = 0, got = 0, want = 0;
  int64_t index = -1;
  std::string describe() const {
    std::ostringstream s;
    s.precision(9);
    s << "worst |err| " << err << " at index " << index << ": got " << got << ", want " << want;
    return s.str();
  }
};
template <class A, class B>
Worst worst_abs_diff(const A* got, const B* want, int64_t n) {
  Worst w;
  for (int64_t i = 0; i < n; ++i) {
    const double g = double(got[i]), r = double(want[i]);
    if (std::isnan(g) || std::isnan(r)) return Worst{std::numeric_limits<double>::quiet_NaN(), g, r, i};
    const double e = g == r ? 0.0 : std::fabs(g - r);  // equal infinities differ by 0
    if (w.index < 0 || e > w.err) w = Worst{e, g, r, i};
  }
  return w;
}
template <class A, class B>
Worst worst_abs_diff(const std::vector<A>& got, const std::vector<B>& want) {
  if (got.size() != want.size()) return Worst{std::numeric_limits<double>::infinity(), 0, 0, -1};
  return worst_abs_diff(got.data(), want.data(), int64_t(got.size()));
}

// The largest |x[i]| (NaN when any x[i] is NaN): the scale for tolerances relative to a tensor.
template <class A>
double max_abs(const A* x, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = nan_max(m, std::fabs(double(x[i])));
  return m;
}
template <class A>
double max_abs(const std::vector<A>& x) {
  return max_abs(x.data(), int64_t(x.size()));
}

}  // namespace gaincell::test
