package response_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/graph-proxy/graph-proxy/policy"
	"github.com/graph-proxy/graph-proxy/proxy/response"
)

// A getSchedule answer reduced to when each mailbox is busy: the items'
// status, start and end, never their subject or location.
func ExampleNew() {
	section, _ := policy.NewResponse("free-busy", []string{"scheduleId", "scheduleItems.status", "scheduleItems.start", "scheduleItems.end"}, nil, nil, nil)
	answer := `{"value":[{"scheduleId":"adele@contoso.example","scheduleItems":[{"status":"busy","subject":"Salary review",` +
		`"location":"HR","start":{"dateTime":"2030-03-04T10:00:00"},"end":{"dateTime":"2030-03-04T11:00:00"}}]}]}`
	f := response.New(io.NopCloser(strings.NewReader(answer)), response.Options{Response: section, Status: 200})
	defer f.Close()
	out, err := io.ReadAll(f)
	fmt.Println(string(out), err)
	fmt.Printf("%+v\n", f.Counts())
	// Output:
	// {"value":[{"scheduleId":"adele@contoso.example","scheduleItems":[{"status":"busy","start":{"dateTime":"2030-03-04T10:00:00"},"end":{"dateTime":"2030-03-04T11:00:00"}}]}]} <nil>
	// {Removed:2 Pseudonymised:0 Withheld:0}
}
