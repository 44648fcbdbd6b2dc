# Tests of the access log (issue 7).
