// See run_store.h. (issue 20: being written)
