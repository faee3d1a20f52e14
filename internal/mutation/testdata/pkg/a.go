package pkg

func Min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func Clamp(x int) int {
	if x > 10 {
		return 10
	}
	return x
}
