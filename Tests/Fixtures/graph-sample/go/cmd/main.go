package main

import (
	"fmt"
	"example.com/sample/util"
)

func main() { fmt.Println(util.Add(1, 2)) }
