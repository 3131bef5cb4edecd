package graphsim_test

import (
	"fmt"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

func ExampleStart() {
	s, err := graphsim.Start(graphsim.Options{Users: 3})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	_, upns := s.Graph.Users()
	fmt.Println(upns[0])
	// Output: adele.vance0@contoso.example
}
