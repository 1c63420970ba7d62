module github.com/tallyhq/tally

go 1.26.8
