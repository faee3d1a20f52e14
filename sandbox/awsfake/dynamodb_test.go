package awsfake_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/medic-ops/medic/sandbox/awsfake"
)

func TestDynamoDB(t *testing.T) {
	srv := mustServer(t, awsfake.Options{})
	var logs logCapture
	db := dynamodb.NewFromConfig(mustConfig(t, srv, config.WithLogger(logs.logger())))
	ctx := context.Background()
	srv.PutTable(awsfake.Table{
		Name:    "prod-terraform-locks",
		HashKey: "LockID",
		Items: []awsfake.Item{
			{"LockID": awsfake.S("prod/terraform.tfstate"), "Info": awsfake.S(`{"Who":"ci@runner"}`), "status": awsfake.S("held"), "Digest": awsfake.S("abc")},
			{"LockID": awsfake.S("preprod/terraform.tfstate"), "Info": awsfake.S(`{"Who":"alice"}`), "status": awsfake.S("held")},
			{"LockID": awsfake.S("dev/terraform.tfstate"), "Info": awsfake.S(`{"Who":"bob"}`), "status": awsfake.S("held")},
		},
	})
	srv.PutTable(awsfake.Table{Name: "prod-sentiment-results", HashKey: "id", RangeKey: "ts", RangeKeyType: "N"})

	t.Run("DescribeTable", func(t *testing.T) {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("prod-terraform-locks")})
		mustNoErr(t, err, "DescribeTable")
		tb := out.Table
		if tb.TableStatus != types.TableStatusActive || aws.ToInt64(tb.ItemCount) != 3 || len(tb.KeySchema) != 1 ||
			aws.ToString(tb.KeySchema[0].AttributeName) != "LockID" || tb.KeySchema[0].KeyType != types.KeyTypeHash {
			t.Errorf("got status %q, %d items, key schema %+v; want ACTIVE, 3, LockID HASH", tb.TableStatus, aws.ToInt64(tb.ItemCount), tb.KeySchema)
		}
	})

	t.Run("ListTables", func(t *testing.T) {
		out, err := db.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
		mustNoErr(t, err, "ListTables")
		if !slices.Equal(out.TableNames, []string{"prod-sentiment-results"}) || aws.ToString(out.LastEvaluatedTableName) != "prod-sentiment-results" {
			t.Errorf("got %v, last %q; want [prod-sentiment-results] and a continuation", out.TableNames, aws.ToString(out.LastEvaluatedTableName))
		}
		out, err = db.ListTables(ctx, &dynamodb.ListTablesInput{ExclusiveStartTableName: out.LastEvaluatedTableName})
		mustNoErr(t, err, "ListTables")
		if !slices.Equal(out.TableNames, []string{"prod-terraform-locks"}) || out.LastEvaluatedTableName != nil {
			t.Errorf("second page: got %v, last %v; want [prod-terraform-locks] and no continuation", out.TableNames, out.LastEvaluatedTableName)
		}
	})

	t.Run("Scan with projection and paging", func(t *testing.T) {
		var items []map[string]types.AttributeValue
		pages := 0
		p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{
			TableName:                aws.String("prod-terraform-locks"),
			ProjectionExpression:     aws.String("LockID, #s, Info"),
			ExpressionAttributeNames: map[string]string{"#s": "status"},
			Limit:                    aws.Int32(2),
		})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			mustNoErr(t, err, "Scan")
			pages++
			items = append(items, out.Items...)
		}
		if len(items) != 3 || pages != 2 {
			t.Fatalf("got %d items in %d pages, want 3 in 2", len(items), pages)
		}
		for _, it := range items {
			if _, ok := it["Digest"]; ok || len(it) != 3 {
				t.Errorf("projection: got attributes %v, want LockID, status, Info only", slices.Sorted(maps.Keys(it)))
			}
			if s, ok := it["status"].(*types.AttributeValueMemberS); !ok || s.Value != "held" {
				t.Errorf("status: got %#v, want S held", it["status"])
			}
		}
	})

	t.Run("Scan projection errors", func(t *testing.T) {
		tests := []struct {
			name  string
			expr  string
			names map[string]string
		}{
			{"reserved word", "LockID, status", nil},
			{"undefined alias", "#x", nil},
			{"unused alias", "LockID", map[string]string{"#s": "status"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := db.Scan(ctx, &dynamodb.ScanInput{
					TableName: aws.String("prod-terraform-locks"), ProjectionExpression: aws.String(tt.expr), ExpressionAttributeNames: tt.names,
				})
				wantCode(t, err, "ValidationException")
			})
		}
	})

	t.Run("DeleteItem", func(t *testing.T) {
		out, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:    aws.String("prod-terraform-locks"),
			Key:          map[string]types.AttributeValue{"LockID": &types.AttributeValueMemberS{Value: "prod/terraform.tfstate"}},
			ReturnValues: types.ReturnValueAllOld,
		})
		mustNoErr(t, err, "DeleteItem")
		if who, ok := out.Attributes["Info"].(*types.AttributeValueMemberS); !ok || who.Value != `{"Who":"ci@runner"}` {
			t.Errorf("old attributes: got %#v, want the deleted lock's Info", out.Attributes["Info"])
		}
		tb, _ := srv.Table("prod-terraform-locks")
		for _, it := range tb.Items {
			if it["LockID"].(map[string]any)["S"] == "prod/terraform.tfstate" {
				t.Errorf("world: the prod lock is still there: %v", tb.Items)
			}
		}
		got, err := db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String("prod-terraform-locks"),
			Key:       map[string]types.AttributeValue{"LockID": &types.AttributeValueMemberS{Value: "prod/terraform.tfstate"}},
		})
		mustNoErr(t, err, "GetItem")
		if got.Item != nil {
			t.Errorf("GetItem after delete: got %v, want no item", got.Item)
		}
		ms := srv.Mutations()
		if len(ms) == 0 || ms[len(ms)-1].Op != "dynamodb:DeleteItem" || ms[len(ms)-1].Status != 200 {
			t.Errorf("mutations: got %+v, want a successful dynamodb:DeleteItem last", ms)
		}
	})

	t.Run("DeleteItem with a wrong key", func(t *testing.T) {
		_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String("prod-terraform-locks"),
			Key:       map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "x"}},
		})
		wantCode(t, err, "ValidationException")
	})

	t.Run("PutItem and GetItem", func(t *testing.T) {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String("prod-sentiment-results"),
			Item: map[string]types.AttributeValue{
				"id": &types.AttributeValueMemberS{Value: "r1"}, "ts": &types.AttributeValueMemberN{Value: "1700000000"},
				"score": &types.AttributeValueMemberN{Value: "0.93"},
			},
		})
		mustNoErr(t, err, "PutItem")
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String("prod-sentiment-results"),
			Key: map[string]types.AttributeValue{
				"id": &types.AttributeValueMemberS{Value: "r1"}, "ts": &types.AttributeValueMemberN{Value: "1700000000"},
			},
			ProjectionExpression: aws.String("score"),
		})
		mustNoErr(t, err, "GetItem")
		if n, ok := out.Item["score"].(*types.AttributeValueMemberN); !ok || n.Value != "0.93" || len(out.Item) != 1 {
			t.Errorf("got %#v, want only score N 0.93", out.Item)
		}
	})

	t.Run("unknown table", func(t *testing.T) {
		_, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("nope")})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("got %v, want *types.ResourceNotFoundException", err)
		}
	})

	// Every response above, errors included, carried X-Amz-Crc32; without it the SDK
	// logs "response did not match expected checksum" on each call.
	if got := logs.matching("checksum"); len(got) > 0 {
		t.Errorf("SDK logged about checksums: %q, want nothing", got)
	}
}

func TestDynamoDBConditionalWrites(t *testing.T) {
	srv := mustServer(t, awsfake.Options{})
	db := dynamodb.NewFromConfig(mustConfig(t, srv))
	ctx := context.Background()
	srv.PutTable(awsfake.Table{Name: "locks", HashKey: "LockID"})
	key := map[string]types.AttributeValue{"LockID": &types.AttributeValueMemberS{Value: "tfstate/prod.tfstate"}}
	lock := func(who string) error {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String("locks"),
			Item: map[string]types.AttributeValue{
				"LockID": key["LockID"],
				"Info":   &types.AttributeValueMemberS{Value: who},
			},
			ConditionExpression: aws.String("attribute_not_exists(LockID)"),
		})
		return err
	}
	info := func() string {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String("locks"), Key: key,
			ProjectionExpression: aws.String("LockID, Info"), ConsistentRead: aws.Bool(true),
		})
		mustNoErr(t, err, "GetItem")
		if s, ok := out.Item["Info"].(*types.AttributeValueMemberS); ok {
			return s.Value
		}
		return ""
	}

	mustNoErr(t, lock("alice"), "first lock")
	err := lock("bob")
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) || ccf.ErrorMessage() != "The conditional request failed" {
		t.Fatalf("second lock: got %v, want *types.ConditionalCheckFailedException \"The conditional request failed\"", err)
	}
	if got := info(); got != "alice" {
		t.Errorf("holder after a refused lock: got %q, want alice", got)
	}
	ms := srv.Mutations()
	if last := ms[len(ms)-1]; last.Op != "dynamodb:PutItem" || last.Status != 400 {
		t.Errorf("last mutation: got %+v, want a refused (400) dynamodb:PutItem", last)
	}

	// Unlock only if alice still holds it.
	unlock := func(who string) error {
		_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String("locks"), Key: key,
			ConditionExpression:       aws.String("attribute_exists(#id) AND #info = :who"),
			ExpressionAttributeNames:  map[string]string{"#id": "LockID", "#info": "Info"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":who": &types.AttributeValueMemberS{Value: who}},
		})
		return err
	}
	if err := unlock("bob"); !errors.As(err, &ccf) {
		t.Fatalf("unlock by bob: got %v, want *types.ConditionalCheckFailedException", err)
	}
	mustNoErr(t, unlock("alice"), "unlock by alice")
	if got := info(); got != "" {
		t.Errorf("holder after unlock: got %q, want none", got)
	}
	if err := unlock("alice"); !errors.As(err, &ccf) {
		t.Fatalf("unlock of a missing item: got %v, want *types.ConditionalCheckFailedException", err)
	}
	mustNoErr(t, lock("bob"), "lock after unlock")

	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String("locks"),
		Item:                map[string]types.AttributeValue{"LockID": key["LockID"]},
		ConditionExpression: aws.String("begins_with(Info, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": &types.AttributeValueMemberS{Value: "b"},
		},
	})
	wantCode(t, err, "ValidationException")
	if got := info(); got != "bob" {
		t.Errorf("holder after a refused expression: got %q, want bob (unchanged)", got)
	}
}
