package awsfake_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/medic-ops/medic/sandbox/awsfake"
)

func TestCloudWatch(t *testing.T) {
	clock := newTestClock()
	srv := mustServer(t, awsfake.Options{Now: clock.Now})
	cw := cloudwatch.NewFromConfig(mustConfig(t, srv))
	ctx := context.Background()

	since := clock.Now().Add(-5 * time.Minute).Add(123 * time.Millisecond)
	alarms := []awsfake.Alarm{
		{Name: "prod-api-5xx", State: "ALARM", Reason: "Threshold Crossed: 1 datapoint [12.0] >= 5.0", UpdatedAt: since, Metric: "5XXError", Namespace: "AWS/ApiGateway", Threshold: 5},
		{Name: "prod-lambda-errors", State: "ALARM", Reason: "errors", Metric: "Errors", Namespace: "AWS/Lambda", Threshold: 1},
		{Name: "prod-latency-p99", State: "ALARM", Reason: "slow", Metric: "Latency", Namespace: "AWS/ApiGateway", Threshold: 2.5},
		{Name: "prod-dynamodb-throttles", State: "OK", Metric: "ThrottledRequests", Namespace: "AWS/DynamoDB"},
		{Name: "dev-api-5xx", State: "ALARM", Metric: "5XXError", Namespace: "AWS/ApiGateway"},
	}
	for _, a := range alarms {
		srv.SetAlarm(a)
	}

	t.Run("DescribeAlarms prefix and state with paging", func(t *testing.T) {
		var got []types.MetricAlarm
		pages := 0
		p := cloudwatch.NewDescribeAlarmsPaginator(cw, &cloudwatch.DescribeAlarmsInput{
			AlarmNamePrefix: aws.String("prod-"),
			StateValue:      types.StateValueAlarm,
			MaxRecords:      aws.Int32(2),
		})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			mustNoErr(t, err, "DescribeAlarms")
			pages++
			got = append(got, out.MetricAlarms...)
		}
		var names []string
		for _, a := range got {
			names = append(names, aws.ToString(a.AlarmName))
		}
		want := []string{"prod-api-5xx", "prod-lambda-errors", "prod-latency-p99"}
		if !slices.Equal(names, want) || pages != 2 {
			t.Fatalf("got %v in %d pages, want %v in 2", names, pages, want)
		}
		a := got[0]
		if !aws.ToTime(a.StateUpdatedTimestamp).Equal(since) {
			t.Errorf("timestamp: got %v, want %v", aws.ToTime(a.StateUpdatedTimestamp), since)
		}
		if aws.ToFloat64(a.Threshold) != 5 || aws.ToString(a.MetricName) != "5XXError" || !strings.HasPrefix(aws.ToString(a.StateReason), "Threshold Crossed") {
			t.Errorf("alarm: got threshold %v metric %q reason %q", aws.ToFloat64(a.Threshold), aws.ToString(a.MetricName), aws.ToString(a.StateReason))
		}
	})

	t.Run("DescribeAlarms by names", func(t *testing.T) {
		out, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"prod-dynamodb-throttles", "missing"}})
		mustNoErr(t, err, "DescribeAlarms")
		if len(out.MetricAlarms) != 1 || out.MetricAlarms[0].StateValue != types.StateValueOk {
			t.Errorf("got %+v, want prod-dynamodb-throttles in OK", out.MetricAlarms)
		}
	})

	t.Run("SetAlarmState then history", func(t *testing.T) {
		clock.Advance(time.Minute)
		_, err := cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{
			AlarmName:   aws.String("prod-api-5xx"),
			StateValue:  types.StateValueOk,
			StateReason: aws.String("medic: verified recovery"),
		})
		mustNoErr(t, err, "SetAlarmState")
		out, err := cw.DescribeAlarmHistory(ctx, &cloudwatch.DescribeAlarmHistoryInput{
			AlarmName:       aws.String("prod-api-5xx"),
			HistoryItemType: types.HistoryItemTypeStateUpdate,
			MaxRecords:      aws.Int32(10),
		})
		mustNoErr(t, err, "DescribeAlarmHistory")
		var summaries []string
		for _, h := range out.AlarmHistoryItems {
			summaries = append(summaries, aws.ToString(h.HistorySummary))
		}
		want := []string{"Alarm updated from ALARM to OK", "Alarm updated from INSUFFICIENT_DATA to ALARM"}
		if !slices.Equal(summaries, want) {
			t.Errorf("history: got %q, want %q (newest first)", summaries, want)
		}
		if len(out.AlarmHistoryItems) > 0 && !aws.ToTime(out.AlarmHistoryItems[0].Timestamp).Equal(clock.Now()) {
			t.Errorf("newest timestamp: got %v, want %v", aws.ToTime(out.AlarmHistoryItems[0].Timestamp), clock.Now())
		}
		a, _ := srv.Alarm("prod-api-5xx")
		if a.State != "OK" || a.Reason != "medic: verified recovery" {
			t.Errorf("world: got %s %q, want OK with the reason", a.State, a.Reason)
		}
		var found bool
		for _, m := range srv.Mutations() {
			found = found || (m.Op == "cloudwatch:SetAlarmState" && strings.Contains(m.Input, `"StateValue":"OK"`))
		}
		if !found {
			t.Errorf("mutations: got %+v, want a SetAlarmState to OK", srv.Mutations())
		}
	})

	t.Run("SetAlarmState unknown alarm", func(t *testing.T) {
		_, err := cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{
			AlarmName: aws.String("nope"), StateValue: types.StateValueOk, StateReason: aws.String("x"),
		})
		var nf *types.ResourceNotFound
		if !errors.As(err, &nf) {
			t.Fatalf("got %v, want *types.ResourceNotFound", err)
		}
	})

	t.Run("DescribeAlarms prefix with names", func(t *testing.T) {
		_, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"a"}, AlarmNamePrefix: aws.String("a")})
		wantCode(t, err, "InvalidParameterCombination")
	})
}

func TestCloudWatchLogs(t *testing.T) {
	clock := newTestClock()
	srv := mustServer(t, awsfake.Options{Now: clock.Now})
	logs := cloudwatchlogs.NewFromConfig(mustConfig(t, srv))
	ctx := context.Background()
	now := clock.Now()
	group := "/aws/lambda/prod-sentiment-analysis"
	srv.PutLogEvent(group, "2026/01/01/[$LATEST]a", now.Add(-20*time.Minute), "ERROR old failure")
	srv.PutLogEvent(group, "2026/01/01/[$LATEST]a", now.Add(-5*time.Minute), "ERROR model not found: v42")
	srv.PutLogEvent(group, "2026/01/01/[$LATEST]a", now.Add(-4*time.Minute), "INFO request handled")
	srv.PutLogEvent(group, "2026/01/01/[$LATEST]b", now.Add(-1*time.Minute), "ERROR Internal Server Error")
	srv.PutLogEvent(group, "2026/01/01/[$LATEST]b", now.Add(-30*time.Second), "WARN error rate rising")

	filter := func(t *testing.T, pattern string, limit int32) []string {
		t.Helper()
		in := &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName:  aws.String(group),
			FilterPattern: aws.String(pattern),
			StartTime:     aws.Int64(now.Add(-10 * time.Minute).UnixMilli()),
			EndTime:       aws.Int64(now.UnixMilli()),
		}
		if limit > 0 {
			in.Limit = aws.Int32(limit)
		}
		var msgs []string
		p := cloudwatchlogs.NewFilterLogEventsPaginator(logs, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			mustNoErr(t, err, "FilterLogEvents")
			for _, e := range out.Events {
				msgs = append(msgs, aws.ToString(e.Message))
			}
		}
		return msgs
	}

	tests := []struct {
		name    string
		pattern string
		limit   int32
		want    []string
	}{
		{"plain term in the last 10 minutes", "ERROR", 0, []string{"ERROR model not found: v42", "ERROR Internal Server Error"}},
		{"paged one by one", "ERROR", 1, []string{"ERROR model not found: v42", "ERROR Internal Server Error"}},
		{"quoted phrase", `"Internal Server Error"`, 0, []string{"ERROR Internal Server Error"}},
		{"all terms", "ERROR v42", 0, []string{"ERROR model not found: v42"}},
		{"optional terms", "?ERROR ?WARN", 0, []string{"ERROR model not found: v42", "ERROR Internal Server Error", "WARN error rate rising"}},
		{"excluded term", "ERROR -Internal", 0, []string{"ERROR model not found: v42"}},
		{"case-sensitive", "error", 0, []string{"WARN error rate rising"}},
		{"empty pattern", "", 0, []string{"ERROR model not found: v42", "INFO request handled", "ERROR Internal Server Error", "WARN error rate rising"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filter(t, tt.pattern, tt.limit); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("event fields", func(t *testing.T) {
		out, err := logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName: aws.String(group), FilterPattern: aws.String(`"model not found"`),
		})
		mustNoErr(t, err, "FilterLogEvents")
		if len(out.Events) != 1 {
			t.Fatalf("got %d events, want 1", len(out.Events))
		}
		e := out.Events[0]
		if aws.ToInt64(e.Timestamp) != now.Add(-5*time.Minute).UnixMilli() || aws.ToString(e.LogStreamName) != "2026/01/01/[$LATEST]a" || aws.ToString(e.EventId) == "" {
			t.Errorf("got ts %d stream %q id %q, want the seeded event", aws.ToInt64(e.Timestamp), aws.ToString(e.LogStreamName), aws.ToString(e.EventId))
		}
	})

	t.Run("unknown group", func(t *testing.T) {
		_, err := logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/nope")})
		wantCode(t, err, "ResourceNotFoundException")
	})

	t.Run("JSON pattern refused", func(t *testing.T) {
		_, err := logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName: aws.String(group), FilterPattern: aws.String(`{ $.level = "ERROR" }`),
		})
		wantCode(t, err, "InvalidParameterException")
	})
}
