package bulk

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// productInfo is the body of GET /. The version numbers and build fields are
// plausible values for each product line, not those of one real build.
func productInfo(f Flavor) any {
	type version struct {
		Distribution  string `json:"distribution,omitempty"`
		Number        string `json:"number"`
		BuildFlavor   string `json:"build_flavor,omitempty"`
		BuildType     string `json:"build_type"`
		BuildHash     string `json:"build_hash"`
		BuildDate     string `json:"build_date"`
		BuildSnapshot bool   `json:"build_snapshot"`
		Lucene        string `json:"lucene_version"`
		MinWire       string `json:"minimum_wire_compatibility_version"`
		MinIndex      string `json:"minimum_index_compatibility_version"`
	}
	type info struct {
		Name        string  `json:"name"`
		ClusterName string  `json:"cluster_name"`
		ClusterUUID string  `json:"cluster_uuid"`
		Version     version `json:"version"`
		Tagline     string  `json:"tagline"`
	}

	v := version{BuildFlavor: "default", BuildType: "docker", BuildHash: "0123456789abcdef0123456789abcdef01234567", BuildDate: "2025-01-10T10:08:26.972230187Z"}
	tagline := "You Know, for Search"
	switch f {
	case Elasticsearch7:
		v.Number, v.Lucene, v.MinWire, v.MinIndex = "7.17.25", "8.11.3", "6.8.0", "6.0.0-beta1"
	case Elasticsearch8:
		v.Number, v.Lucene, v.MinWire, v.MinIndex = "8.15.3", "9.11.1", "7.17.0", "7.0.0"
	case Elasticsearch9:
		v.Number, v.Lucene, v.MinWire, v.MinIndex = "9.1.0", "10.2.2", "8.19.0", "8.0.0"
	case OpenSearch2:
		v.Distribution, v.BuildFlavor, v.BuildType = "opensearch", "", "tar"
		v.Number, v.Lucene, v.MinWire, v.MinIndex = "2.17.1", "9.11.1", "7.10.0", "7.0.0"
		tagline = "The OpenSearch Project: https://opensearch.org/"
	}
	return info{Name: "fake-node-1", ClusterName: "fake", ClusterUUID: "k3VbUJ0pQ8yC5m0gFhbP1A", Version: v, Tagline: tagline}
}

// errorCause is Elasticsearch's error object.
type errorCause struct {
	RootCause    []errorCause `json:"root_cause,omitempty"`
	Type         string       `json:"type"`
	Reason       string       `json:"reason"`
	ResourceType string       `json:"resource.type,omitempty"`
	ResourceID   string       `json:"resource.id,omitempty"`
	IndexUUID    string       `json:"index_uuid,omitempty"`
	Shard        string       `json:"shard,omitempty"`
	Index        string       `json:"index,omitempty"`
	CausedBy     *errorCause  `json:"caused_by,omitempty"`
}

// errorBody is the body of a failed request: {"error": {...}, "status": N}.
func errorBody(status int, cause errorCause) []byte {
	root := cause
	root.CausedBy = nil
	cause.RootCause = []errorCause{root}
	b, _ := json.Marshal(struct {
		Error  errorCause `json:"error"`
		Status int        `json:"status"`
	}{cause, status})
	return b
}

// reply is a whole HTTP response.
type reply struct {
	status      int
	contentType string
	header      http.Header
	body        []byte
}

func jsonReply(status int, body []byte) reply {
	return reply{status: status, contentType: "application/json", body: body}
}

// requestFailure returns the response with status that the product, or a
// proxy in front of it, sends to a bulk request on index.
func requestFailure(f Flavor, status int, index, user string) reply {
	if user == "" {
		user = "alerts_writer"
	}
	switch status {
	case http.StatusTooManyRequests:
		typ := "es_rejected_execution_exception"
		if f.isOpenSearch() {
			typ = "rejected_execution_exception"
		}
		return jsonReply(status, errorBody(status, errorCause{Type: typ,
			Reason: "rejected execution of coordinating operation [coordinating_and_primary_bytes=53477376, replica_bytes=0, all_bytes=53477376, coordinating_operation_bytes=16384, max_coordinating_and_primary_bytes=53687091]"}))
	case http.StatusServiceUnavailable:
		reason := "blocked by: [SERVICE_UNAVAILABLE/2/no master];"
		if f.isOpenSearch() {
			reason = "blocked by: [SERVICE_UNAVAILABLE/2/no cluster-manager];"
		}
		return jsonReply(status, errorBody(status, errorCause{Type: "cluster_block_exception", Reason: reason}))
	case http.StatusInternalServerError:
		return jsonReply(status, errorBody(status, errorCause{Type: "illegal_state_exception", Reason: "failed to process the bulk request on the coordinating node"}))
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		// A reverse proxy in front of the cluster sends these, in HTML.
		text := http.StatusText(status)
		body := fmt.Sprintf("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", status, text, status, text)
		return reply{status: status, contentType: "text/html", body: []byte(body)}
	case http.StatusUnauthorized:
		return authFailure(f, user, false)
	case http.StatusForbidden:
		reason := fmt.Sprintf("action [indices:data/write/bulk] is unauthorized for user [%s] with effective roles [viewer], this action is granted by the index privileges [create_doc,create,index,write,all]", user)
		if f.isOpenSearch() {
			reason = fmt.Sprintf("no permissions for [indices:data/write/bulk] and User [name=%s, backend_roles=[], requestedTenant=null]", user)
		}
		return jsonReply(status, errorBody(status, errorCause{Type: "security_exception", Reason: reason}))
	case http.StatusNotFound:
		return jsonReply(status, errorBody(status, indexNotFound(index, "")))
	case http.StatusRequestEntityTooLarge:
		return reply{status: status}
	}
	return jsonReply(status, errorBody(status, errorCause{Type: "exception", Reason: fmt.Sprintf("injected failure with status %d", status)}))
}

// authFailure returns the 401 response to missing or wrong credentials. The
// security plugin of OpenSearch responds in plain text.
func authFailure(f Flavor, user string, missing bool) reply {
	if f.isOpenSearch() {
		return reply{
			status:      http.StatusUnauthorized,
			contentType: "text/plain; charset=UTF-8",
			header:      http.Header{"Www-Authenticate": {`Basic realm="OpenSearch Security"`}},
			body:        []byte("Unauthorized"),
		}
	}

	reason := "missing authentication credentials for REST request [/_bulk]"
	switch {
	case missing:
	case user != "":
		reason = fmt.Sprintf("unable to authenticate user [%s] for REST request [/_bulk]", user)
	default:
		reason = "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
	}
	r := jsonReply(http.StatusUnauthorized, errorBody(http.StatusUnauthorized, errorCause{Type: "security_exception", Reason: reason}))
	r.header = http.Header{"Www-Authenticate": {`Basic realm="security", charset="UTF-8"`, "ApiKey"}}
	return r
}

// indexNotFound is the error for a missing index; detail, when set, is
// appended to the reason as Elasticsearch does for a refused auto-create.
func indexNotFound(index, detail string) errorCause {
	reason := fmt.Sprintf("no such index [%s]", index)
	if detail != "" {
		reason += " and " + detail
	}
	return errorCause{
		Type: "index_not_found_exception", Reason: reason,
		ResourceType: "index_or_alias", ResourceID: index, IndexUUID: "_na_", Index: index,
	}
}

// itemResult is one entry of the items array. Its field order is the one
// Elasticsearch writes.
type itemResult struct {
	Index       string      `json:"_index"`
	Type        string      `json:"_type,omitempty"`
	ID          string      `json:"_id"`
	Version     int64       `json:"_version,omitempty"`
	Result      string      `json:"result,omitempty"`
	Shards      *shardStats `json:"_shards,omitempty"`
	SeqNo       *int64      `json:"_seq_no,omitempty"`
	PrimaryTerm int64       `json:"_primary_term,omitempty"`
	Status      int         `json:"status"`
	Error       *errorCause `json:"error,omitempty"`
}

type shardStats struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
}

// itemFaultError is the error object and status of an injected item fault.
func itemFaultError(f Flavor, fault ItemFault, index, id string) (int, errorCause) {
	switch fault {
	case ItemRejected:
		typ := "es_rejected_execution_exception"
		if f.isOpenSearch() {
			typ = "rejected_execution_exception"
		}
		return http.StatusTooManyRequests, errorCause{Type: typ,
			Reason: "rejected execution of primary operation [shard_detail=[" + index + "][0][P], shard_coordinating_and_primary_bytes=0, shard_operation_bytes=1024, shard_max_coordinating_and_primary_bytes=53687091]"}
	case ItemMappingError:
		typ := "document_parsing_exception"
		if f == Elasticsearch7 || f.isOpenSearch() {
			typ = "mapper_parsing_exception"
		}
		return http.StatusBadRequest, errorCause{Type: typ,
			Reason:   fmt.Sprintf("[1:42] failed to parse field [source.ip] of type [ip] in document with id '%s'. Preview of field's value: 'ws-042'", id),
			CausedBy: &errorCause{Type: "illegal_argument_exception", Reason: "'ws-042' is not an IP string literal."}}
	case ItemInternalError:
		return http.StatusInternalServerError, errorCause{Type: "illegal_state_exception", Reason: "shard [" + index + "][0] failed to apply the operation"}
	case ItemUnavailable:
		return http.StatusServiceUnavailable, errorCause{Type: "unavailable_shards_exception",
			Reason: "[" + index + "][0] primary shard is not active Timeout: [1m], request: [BulkShardRequest [[" + index + "][0]] containing [1] requests]"}
	}
	return http.StatusInternalServerError, errorCause{Type: "exception", Reason: "unknown fault"}
}
