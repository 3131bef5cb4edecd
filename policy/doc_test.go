package policy_test

import (
	"fmt"
	"net/url"

	"github.com/graph-proxy/graph-proxy/policy"
)

func ExampleParseRequest() {
	u, _ := url.Parse("/v1.0/users/alice@contoso.example/calendar/events?$top=5&$select=subject")
	req, err := policy.ParseRequest("get", u)
	fmt.Println(req.Method, req.Version, req.Path, req.Query, err)
	// Output: GET v1.0 /users/alice@contoso.example/calendar/events [$select $top] <nil>
}

func ExampleDecision() {
	var d policy.Decision // the zero value denies
	fmt.Println(d.Result, d.Result.Forwarded())
	// Output: deny false
}
