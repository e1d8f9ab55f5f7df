// See scheduler.h. (issue 20: being written)
