package cef

// Column identifies a CommonSecurityLog column that a CEF header field or
// extension key fills. The zero Column is not a column.
type Column uint16

type columnDef struct {
	name string // CommonSecurityLog column name
	key  string // CEF extension key, "" for a header field
}

// columnDefs is Microsoft's CEF-to-CommonSecurityLog mapping
// (https://learn.microsoft.com/azure/sentinel/cef-name-mapping). The first
// six entries are the header fields after the version, in header order.
// Index 0 is unused so that the zero Column means "none".
var columnDefs = []columnDef{
	{},
	{"DeviceVendor", ""},
	{"DeviceProduct", ""},
	{"DeviceVersion", ""},
	{"DeviceEventClassID", ""},
	{"Activity", ""},
	{"LogSeverity", ""},

	{"DeviceAction", "act"},
	{"ApplicationProtocol", "app"},
	{"DeviceEventCategory", "cat"},
	{"EventCount", "cnt"},
	{"DestinationDnsDomain", "destinationDnsDomain"},
	{"DestinationServiceName", "destinationServiceName"},
	{"DestinationTranslatedAddress", "destinationTranslatedAddress"},
	{"DestinationTranslatedPort", "destinationTranslatedPort"},
	{"CommunicationDirection", "deviceDirection"},
	{"DeviceDnsDomain", "deviceDnsDomain"},
	{"DeviceExternalID", "deviceExternalId"},
	{"DeviceFacility", "deviceFacility"},
	{"DeviceInboundInterface", "deviceInboundInterface"},
	{"DeviceNtDomain", "deviceNtDomain"},
	{"DeviceOutboundInterface", "deviceOutboundInterface"},
	{"DevicePayloadId", "devicePayloadId"},
	{"ProcessName", "deviceProcessName"},
	{"DeviceTranslatedAddress", "deviceTranslatedAddress"},
	{"DestinationHostName", "dhost"},
	{"DestinationMACAddress", "dmac"},
	{"DestinationNTDomain", "dntdom"},
	{"DestinationProcessId", "dpid"},
	{"DestinationUserPrivileges", "dpriv"},
	{"DestinationProcessName", "dproc"},
	{"DestinationPort", "dpt"},
	{"DestinationIP", "dst"},
	{"DeviceTimeZone", "dtz"},
	{"DestinationUserID", "duid"},
	{"DestinationUserName", "duser"},
	{"DeviceAddress", "dvc"},
	{"DeviceName", "dvchost"},
	{"DeviceMacAddress", "dvcmac"},
	{"ProcessID", "dvcpid"},
	{"EndTime", "end"},
	{"ExternalID", "externalId"},
	{"FileCreateTime", "fileCreateTime"},
	{"FileHash", "fileHash"},
	{"FileID", "fileId"},
	{"FileModificationTime", "fileModificationTime"},
	{"FilePath", "filePath"},
	{"FilePermission", "filePermission"},
	{"FileType", "fileType"},
	{"FileName", "fname"},
	{"FileSize", "fsize"},
	{"ReceivedBytes", "in"},
	{"Message", "msg"},
	{"OldFileCreateTime", "oldFileCreateTime"},
	{"OldFileHash", "oldFileHash"},
	{"OldFileID", "oldFileId"},
	{"OldFileModificationTime", "oldFileModificationTime"},
	{"OldFileName", "oldFileName"},
	{"OldFilePath", "oldFilePath"},
	{"OldFilePermission", "oldFilePermission"},
	{"OldFileSize", "oldFileSize"},
	{"OldFileType", "oldFileType"},
	{"SentBytes", "out"},
	{"EventOutcome", "outcome"},
	{"Protocol", "proto"},
	{"Reason", "reason"},
	{"RequestURL", "request"},
	{"RequestClientApplication", "requestClientApplication"},
	{"RequestContext", "requestContext"},
	{"RequestCookies", "requestCookies"},
	{"RequestMethod", "requestMethod"},
	{"ReceiptTime", "rt"},
	{"SourceHostName", "shost"},
	{"SourceMACAddress", "smac"},
	{"SourceNTDomain", "sntdom"},
	{"SourceDnsDomain", "sourceDnsDomain"},
	{"SourceServiceName", "sourceServiceName"},
	{"SourceTranslatedAddress", "sourceTranslatedAddress"},
	{"SourceTranslatedPort", "sourceTranslatedPort"},
	{"SourceProcessId", "spid"},
	{"SourceUserPrivileges", "spriv"},
	{"SourceProcessName", "sproc"},
	{"SourcePort", "spt"},
	{"SourceIP", "src"},
	{"StartTime", "start"},
	{"SourceUserID", "suid"},
	{"SourceUserName", "suser"},
	{"EventType", "type"},

	{"DeviceCustomIPv6Address1", "c6a1"},
	{"DeviceCustomIPv6Address1Label", "c6a1Label"},
	{"DeviceCustomIPv6Address2", "c6a2"},
	{"DeviceCustomIPv6Address2Label", "c6a2Label"},
	{"DeviceCustomIPv6Address3", "c6a3"},
	{"DeviceCustomIPv6Address3Label", "c6a3Label"},
	{"DeviceCustomIPv6Address4", "c6a4"},
	{"DeviceCustomIPv6Address4Label", "c6a4Label"},
	{"DeviceCustomFloatingPoint1", "cfp1"},
	{"DeviceCustomFloatingPoint1Label", "cfp1Label"},
	{"DeviceCustomFloatingPoint2", "cfp2"},
	{"DeviceCustomFloatingPoint2Label", "cfp2Label"},
	{"DeviceCustomFloatingPoint3", "cfp3"},
	{"DeviceCustomFloatingPoint3Label", "cfp3Label"},
	{"DeviceCustomFloatingPoint4", "cfp4"},
	{"DeviceCustomFloatingPoint4Label", "cfp4Label"},
	{"DeviceCustomNumber1", "cn1"},
	{"DeviceCustomNumber1Label", "cn1Label"},
	{"DeviceCustomNumber2", "cn2"},
	{"DeviceCustomNumber2Label", "cn2Label"},
	{"DeviceCustomNumber3", "cn3"},
	{"DeviceCustomNumber3Label", "cn3Label"},
	{"DeviceCustomString1", "cs1"},
	{"DeviceCustomString1Label", "cs1Label"},
	{"DeviceCustomString2", "cs2"},
	{"DeviceCustomString2Label", "cs2Label"},
	{"DeviceCustomString3", "cs3"},
	{"DeviceCustomString3Label", "cs3Label"},
	{"DeviceCustomString4", "cs4"},
	{"DeviceCustomString4Label", "cs4Label"},
	{"DeviceCustomString5", "cs5"},
	{"DeviceCustomString5Label", "cs5Label"},
	{"DeviceCustomString6", "cs6"},
	{"DeviceCustomString6Label", "cs6Label"},
	{"DeviceCustomDate1", "deviceCustomDate1"},
	{"DeviceCustomDate1Label", "deviceCustomDate1Label"},
	{"DeviceCustomDate2", "deviceCustomDate2"},
	{"DeviceCustomDate2Label", "deviceCustomDate2Label"},
	{"FlexDate1", "flexDate1"},
	{"FlexDate1Label", "flexDate1Label"},
	{"FlexNumber1", "flexNumber1"},
	{"FlexNumber1Label", "flexNumber1Label"},
	{"FlexNumber2", "flexNumber2"},
	{"FlexNumber2Label", "flexNumber2Label"},
	{"FlexString1", "flexString1"},
	{"FlexString1Label", "flexString1Label"},
	{"FlexString2", "flexString2"},
	{"FlexString2Label", "flexString2Label"},
}

// headerAliases are the names that other CEF decoders (Logstash's codec,
// for one) give the header fields of records they have already split.
var headerAliases = map[string]Column{
	"deviceVendor":       1,
	"deviceProduct":      2,
	"deviceVersion":      3,
	"deviceEventClassId": 4,
	"name":               5,
	"severity":           6,
}

const headerFields = 6 // header fields after the version

var (
	columnsByName = map[string]Column{}
	columnsByKey  = map[string]Column{}
)

func init() {
	for i, def := range columnDefs[1:] {
		c := Column(i + 1)
		columnsByName[def.name] = c
		if def.key != "" {
			columnsByKey[def.key] = c
		}
	}
}

// ColumnByName returns the column with the given CommonSecurityLog name.
func ColumnByName(name string) (Column, bool) {
	c, ok := columnsByName[name]
	return c, ok
}

// Name returns the CommonSecurityLog name of c.
func (c Column) Name() string {
	return columnDefs[c].name
}

// Key returns the CEF extension key that fills c, or "" for a header field.
func (c Column) Key() string {
	return columnDefs[c].key
}

// isHeader reports whether c is filled from the CEF header.
func (c Column) isHeader() bool {
	return c >= 1 && c <= headerFields
}

// columnForKey returns the column that the extension key fills, or 0 for a
// key outside the mapping (Sentinel keeps those in AdditionalExtensions).
func columnForKey(key []byte) Column {
	return columnsByKey[string(key)]
}

// Columns returns every mapped column in mapping order, header fields first.
func Columns() []Column {
	cs := make([]Column, 0, len(columnDefs)-1)
	for i := 1; i < len(columnDefs); i++ {
		cs = append(cs, Column(i))
	}
	return cs
}
