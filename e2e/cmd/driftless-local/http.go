package main

import (
	"io"
	"net/http"
	"time"
)

var httpClient = &http.Client{Timeout: 2 * time.Second}

func get(url string) (bool, string) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode == http.StatusOK, string(b)
}
