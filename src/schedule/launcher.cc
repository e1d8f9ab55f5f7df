// See launcher.h. (issue 20: being written)
