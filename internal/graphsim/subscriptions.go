package graphsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ChangeTrackingAppID is the application Graph's change notifications
// come from: the appid of their validation tokens.
const ChangeTrackingAppID = "0bf30f3b-4a52-48df-9a82-234910c4a086"

// Subscriptions are Graph's change-notification subscriptions: created
// after the validation handshake with their notificationUrl (and
// lifecycleNotificationUrl), renewed, read and deleted; and the
// notifications tests tell them to send, with Graph's retries when the
// receiver fails. A URL at a host under .example (reserved: nobody can
// answer there) is taken without a handshake, so that tests of the
// policy alone need no receiver.
type Subscriptions struct {
	entra *Entra

	mu       sync.Mutex
	subs     map[string]*Subscription
	client   *http.Client
	attempts []Attempt
	retries  int
	backoff  time.Duration
}

// Subscription is one subscription as Graph holds it.
type Subscription struct {
	ID, Resource, ChangeType, ClientState string
	NotificationURL, LifecycleURL         string
	IncludeResourceData                   bool
	Expiration                            time.Time
	// AppID is the application that created it: the audience of its
	// validation tokens.
	AppID string
}

// Attempt is one delivery Graph tried, and the receiver's answer.
type Attempt struct {
	Subscription string
	URL          string
	Lifecycle    bool
	// Status is the receiver's status; 0 when it could not be reached.
	Status int
	Err    string
}

func newSubscriptions(e *Entra) *Subscriptions {
	return &Subscriptions{entra: e, subs: map[string]*Subscription{}, client: http.DefaultClient, retries: 2, backoff: 20 * time.Millisecond}
}

// SetClient sets the client notifications and validation requests are
// sent with (one that trusts the receiver's certificate).
func (s *Subscriptions) SetClient(c *http.Client) {
	s.mu.Lock()
	s.client = c
	s.mu.Unlock()
}

// SetRetries sets how many times a failed delivery is tried again
// (default 2), after backoff, doubling.
func (s *Subscriptions) SetRetries(n int, backoff time.Duration) {
	s.mu.Lock()
	s.retries, s.backoff = n, backoff
	s.mu.Unlock()
}

// Get returns a copy of a subscription.
func (s *Subscriptions) Get(id string) (Subscription, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[id]
	if !ok {
		return Subscription{}, false
	}
	return *sub, true
}

// Attempts returns every delivery tried so far.
func (s *Subscriptions) Attempts() []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attempt(nil), s.attempts...)
}

func (s *Subscriptions) routes(m *http.ServeMux) {
	m.HandleFunc("POST /{version}/subscriptions", s.create)
	m.HandleFunc("GET /{version}/subscriptions/{id}", s.get)
	m.HandleFunc("PATCH /{version}/subscriptions/{id}", s.update)
	m.HandleFunc("DELETE /{version}/subscriptions/{id}", s.remove)
}

func (s *Subscriptions) create(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, readCalendar...) {
		return
	}
	var body struct {
		ChangeType               string `json:"changeType"`
		NotificationURL          string `json:"notificationUrl"`
		LifecycleNotificationURL string `json:"lifecycleNotificationUrl"`
		Resource                 string `json:"resource"`
		ClientState              string `json:"clientState"`
		IncludeResourceData      bool   `json:"includeResourceData"`
		ExpirationDateTime       string `json:"expirationDateTime"`
	}
	if !readBody(w, r, &body) {
		return
	}
	if body.NotificationURL == "" || body.Resource == "" {
		graphError(w, r, http.StatusBadRequest, "ValidationError", "notificationUrl and resource are required.")
		return
	}
	if len(body.ClientState) > 128 {
		graphError(w, r, http.StatusBadRequest, "ValidationError", "clientState is longer than 128 characters.")
		return
	}
	claims, _ := r.Context().Value(claimsKey{}).(jwt.MapClaims)
	sub := &Subscription{ID: newID(), Resource: body.Resource, ChangeType: body.ChangeType, ClientState: body.ClientState,
		NotificationURL: body.NotificationURL, LifecycleURL: body.LifecycleNotificationURL,
		IncludeResourceData: body.IncludeResourceData, Expiration: time.Now().Add(time.Hour).UTC().Truncate(time.Second), AppID: appOf(claims)}
	if t, err := time.Parse(time.RFC3339, body.ExpirationDateTime); err == nil {
		sub.Expiration = t.UTC()
	}
	// As Graph does: each URL must echo a validation token within 10
	// seconds, or the subscription is not created.
	for _, u := range []string{sub.NotificationURL, sub.LifecycleURL} {
		if u == "" {
			continue
		}
		if err := s.handshake(r.Context(), u); err != nil {
			graphError(w, r, http.StatusBadRequest, "ValidationError", "Subscription validation request failed. "+err.Error())
			return
		}
	}
	s.mu.Lock()
	s.subs[sub.ID] = sub
	s.mu.Unlock()
	writeOData(w, http.StatusCreated, sub.json())
}

func (sub *Subscription) json() map[string]any {
	out := map[string]any{"id": sub.ID, "resource": sub.Resource, "changeType": sub.ChangeType,
		"notificationUrl": sub.NotificationURL, "expirationDateTime": sub.Expiration.Format(time.RFC3339),
		"clientState": nil, "includeResourceData": sub.IncludeResourceData, "applicationId": sub.AppID}
	if sub.ClientState != "" {
		out["clientState"] = sub.ClientState
	}
	if sub.LifecycleURL != "" {
		out["lifecycleNotificationUrl"] = sub.LifecycleURL
	}
	return out
}

// handshake sends Graph's validation request to u and checks the echo.
func (s *Subscriptions) handshake(ctx context.Context, u string) error {
	parsed, err := url.Parse(u)
	if err != nil {
		return err
	}
	if strings.HasSuffix(parsed.Hostname(), ".example") {
		return nil
	}
	b := make([]byte, 24)
	rand.Read(b)
	token := "Validation: " + base64.RawURLEncoding.EncodeToString(b)
	q := parsed.Query()
	q.Set("validationToken", token)
	parsed.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, parsed.String(), http.NoBody)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	s.mu.Lock()
	client := s.client
	s.mu.Unlock()
	resp, err := client.Do(req)
	if err != nil {
		return errors.New("The endpoint could not be reached.")
	}
	defer resp.Body.Close()
	echo, _ := io.ReadAll(io.LimitReader(resp.Body, 8192))
	if resp.StatusCode != http.StatusOK || string(echo) != token {
		return fmt.Errorf("The endpoint answered %d without the validation token.", resp.StatusCode)
	}
	return nil
}

func (s *Subscriptions) lookup(w http.ResponseWriter, r *http.Request) *Subscription {
	s.mu.Lock()
	sub := s.subs[r.PathValue("id")]
	s.mu.Unlock()
	if sub == nil {
		graphError(w, r, http.StatusNotFound, "ResourceNotFound", "The object was not found.")
	}
	return sub
}

func (s *Subscriptions) get(w http.ResponseWriter, r *http.Request) {
	if sub := s.lookup(w, r); sub != nil {
		s.mu.Lock()
		out := sub.json()
		s.mu.Unlock()
		writeOData(w, http.StatusOK, out)
	}
}

func (s *Subscriptions) update(w http.ResponseWriter, r *http.Request) {
	sub := s.lookup(w, r)
	if sub == nil {
		return
	}
	var body struct {
		ExpirationDateTime string `json:"expirationDateTime"`
	}
	if !readBody(w, r, &body) {
		return
	}
	t, err := time.Parse(time.RFC3339, body.ExpirationDateTime)
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "ValidationError", "expirationDateTime is required.")
		return
	}
	s.mu.Lock()
	sub.Expiration = t.UTC()
	out := sub.json()
	s.mu.Unlock()
	writeOData(w, http.StatusOK, out)
}

func (s *Subscriptions) remove(w http.ResponseWriter, r *http.Request) {
	if sub := s.lookup(w, r); sub != nil {
		s.mu.Lock()
		delete(s.subs, sub.ID)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
}

// Change is a change Graph notifies a subscription of.
type Change struct {
	// ChangeType is created, updated or deleted; default the
	// subscription's first.
	ChangeType string
	// Resource is the changed item's path, e.g. Users/{id}/Events/{id}.
	Resource string
	// Rich sends the resource's data (encryptedContent) with validation
	// tokens signed by Entra's keys.
	Rich bool
	// Token, when set, is the validation token sent instead of one of
	// Graph's (a test's forgery).
	Token string
	// ResourceData, when set, is added to the notification's
	// resourceData: members Graph may yet send.
	ResourceData map[string]any
}

// Notify sends one change notification to a subscription's
// notificationUrl, trying again as Graph does when the receiver fails,
// and returns the receiver's last status (0 when unreachable).
func (s *Subscriptions) Notify(id string, c Change) (int, error) {
	sub, ok := s.Get(id)
	if !ok {
		return 0, fmt.Errorf("graphsim: no subscription %s", id)
	}
	ct := c.ChangeType
	if ct == "" {
		ct, _, _ = strings.Cut(sub.ChangeType, ",")
	}
	n := map[string]any{"subscriptionId": sub.ID, "subscriptionExpirationDateTime": sub.Expiration.Format(time.RFC3339),
		"changeType": ct, "resource": c.Resource, "clientState": nilIfEmpty(sub.ClientState), "tenantId": CustomerTenant,
		"resourceData": map[string]any{"@odata.type": "#Microsoft.Graph.Event", "id": lastSegment(c.Resource)}}
	for k, v := range c.ResourceData {
		n["resourceData"].(map[string]any)[k] = v
	}
	body := map[string]any{"value": []any{n}}
	if c.Rich {
		// The data, as Graph encrypts it with the subscriber's
		// certificate: opaque to anyone else, the proxy included.
		n["encryptedContent"] = map[string]any{"data": base64.StdEncoding.EncodeToString([]byte("opaque")),
			"dataKey": "a2V5", "dataSignature": "c2ln", "encryptionCertificateId": "cert", "encryptionCertificateThumbprint": "00"}
		tok := c.Token
		if tok == "" {
			var err error
			if tok, err = s.ValidationToken(sub.AppID, time.Hour); err != nil {
				return 0, err
			}
		}
		body["validationTokens"] = []string{tok}
	}
	return s.deliver(sub, sub.NotificationURL, false, body)
}

// Lifecycle sends a lifecycle notification (reauthorizationRequired,
// subscriptionRemoved or missed) to the subscription's
// lifecycleNotificationUrl.
func (s *Subscriptions) Lifecycle(id, event string) (int, error) {
	sub, ok := s.Get(id)
	if !ok || sub.LifecycleURL == "" {
		return 0, fmt.Errorf("graphsim: no subscription %s with a lifecycleNotificationUrl", id)
	}
	n := map[string]any{"subscriptionId": sub.ID, "subscriptionExpirationDateTime": sub.Expiration.Format(time.RFC3339),
		"lifecycleEvent": event, "resource": sub.Resource, "clientState": nilIfEmpty(sub.ClientState), "tenantId": CustomerTenant}
	return s.deliver(sub, sub.LifecycleURL, true, map[string]any{"value": []any{n}})
}

// ValidationToken mints a validation token as Microsoft's identity
// platform issues them for change notifications: for the subscribing
// application, from Graph's change-tracking application, in the
// customer's tenant.
func (s *Subscriptions) ValidationToken(audience string, lifetime time.Duration) (string, error) {
	tok, _, err := s.entra.Mint(TokenSpec{Tenant: CustomerTenant, AppID: ChangeTrackingAppID, Audience: audience, Version: 1, Lifetime: lifetime})
	return tok, err
}

func (s *Subscriptions) deliver(sub Subscription, u string, lifecycle bool, body any) (int, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	client, retries, backoff := s.client, s.retries, s.backoff
	s.mu.Unlock()
	status := 0
	for try := 0; try <= retries; try++ {
		if try > 0 {
			time.Sleep(backoff)
			backoff *= 2
		}
		a := Attempt{Subscription: sub.ID, URL: u, Lifecycle: lifecycle}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			a.Err = err.Error()
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			a.Status = resp.StatusCode
		}
		cancel()
		status = a.Status
		s.mu.Lock()
		s.attempts = append(s.attempts, a)
		s.mu.Unlock()
		// Graph retries 5xx and unreachable receivers; a 2xx or 4xx ends
		// the delivery.
		if status != 0 && status < 500 {
			break
		}
	}
	return status, nil
}
