// IntrusiveList: a doubly linked FIFO threaded through link fields in the
// nodes themselves, so putting a node on the list or taking it off allocates
// nothing. PushTail appends, Unlink removes a node from anywhere, head() is
// the node appended first. A node type may carry one pair of links per list it
// can be on; Prev and Next name the pair this list uses. A node is on at most
// one list per pair, and the list does not own it.
//
// Thread-safety: none; the owner serialises access.
#pragma once

#include <cstddef>

namespace amberfs {

template <typename Node, Node* Node::*Prev, Node* Node::*Next>
class IntrusiveList {
 public:
  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }
  Node* head() const { return head_; }

  void PushTail(Node* n) {
    n->*Next = nullptr;
    n->*Prev = tail_;
    if (tail_) tail_->*Next = n; else head_ = n;
    tail_ = n;
    ++size_;
  }
  void Unlink(Node* n) {
    if (n->*Prev) (n->*Prev)->*Next = n->*Next; else head_ = n->*Next;
    if (n->*Next) (n->*Next)->*Prev = n->*Prev; else tail_ = n->*Prev;
    n->*Prev = n->*Next = nullptr;
    --size_;
  }

 private:
  Node* head_ = nullptr;
  Node* tail_ = nullptr;
  size_t size_ = 0;
};

}  // namespace amberfs
