// OnExit: runs a function when the scope it guards is left, by any way out
// (a return, an error, an exception), unless Dismiss() was called first.
// For undoing a claim (a slot taken, a placeholder published) that has no
// owning object of its own, where every early return and every throw of
// bad_alloc between the claim and its completion would otherwise need its
// own undo.
//
// The function must not throw (it runs from a destructor, perhaps while an
// exception is unwinding). Not copyable or movable: it lives in one scope.
#pragma once

#include <utility>

namespace amberfs {

template <typename Fn>
class OnExit {
 public:
  explicit OnExit(Fn fn) : fn_(std::move(fn)) {}
  ~OnExit() {
    if (armed_) fn_();
  }
  OnExit(const OnExit&) = delete;
  OnExit& operator=(const OnExit&) = delete;

  // The scope completed what the function would undo.
  void Dismiss() { armed_ = false; }

 private:
  Fn fn_;
  bool armed_ = true;
};

}  // namespace amberfs
