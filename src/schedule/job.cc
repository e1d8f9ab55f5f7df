// See job.h. (issue 20: being written)
