// See service.h. (issue 20: being written)
